"""The vendors our first users (Swedish and Danish course providers) meet on nearly every site
are described in Swedish and Danish, every vendor and every cookie or storage key of them."""

from __future__ import annotations

import pytest

from scanner.kb import KnowledgeBase

# Issue 19, part 6: the trackers and the common CMS and platform cookies.
NORDIC_VENDORS = (
    "google-analytics", "google-tag-manager", "google-ads", "google", "google-fonts",
    "google-maps", "recaptcha", "youtube", "hubspot", "meta", "mouseflow", "hotjar",
    "linkedin", "microsoft-clarity", "wordpress", "woocommerce", "woocommerce-blocks",
    "shopify", "shopify-analytics", "drupal", "joomla", "php", "aspnet", "java-servlet",
    "cloudflare", "stripe", "vimeo", "wix", "squarespace", "cmp",
    # Also met on Nordic sites: consent tools (Cookiebot and Cookie Information are Danish),
    # WordPress plugins, Umbraco and Sitecore, Moodle, chat, payment, hosting, ad pixels.
    "matomo", "cookiebot", "cookie-information", "cookieyes", "onetrust", "microsoft-ads",
    "tiktok", "pinterest", "x", "snap", "intercom", "zendesk", "tawk", "livechat", "crisp",
    "klaviyo", "leadfeeder", "criteo", "paypal", "hcaptcha", "google-sign-in", "akamai",
    "aws-elb", "azure", "imperva", "wpml", "polylang", "complianz", "borlabs",
    "real-cookie-banner", "moove-gdpr", "cookie-notice", "umbraco", "sitecore", "optimizely",
    "vwo", "moodle", "laravel", "django", "iab-tcf", "jetpack-stats", "usercentrics",
    "didomi", "trustpilot", "sentry", "new-relic",
)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.builtin()


@pytest.mark.parametrize("key", NORDIC_VENDORS)
@pytest.mark.parametrize("language", ["sv", "da"])
def test_every_vendor_and_cookie_of_the_common_vendors_is_translated(
    kb: KnowledgeBase, key: str, language: str
) -> None:
    vendor = kb.vendor(key)
    assert vendor is not None, key
    texts = [(key, vendor.description, vendor.describe(language))]
    texts += [
        (rule.pattern, rule.result.description, rule.result.describe(language))
        for rule in kb.rules
        if rule.result.vendor is not None and rule.result.vendor.key == key
    ]
    untranslated = [name for name, english, shown in texts if not shown or shown == english]
    assert untranslated == [], f"{key}: no {language} text for {untranslated}"


def test_swedish_and_danish_are_not_each_other(kb: KnowledgeBase) -> None:
    # A copy of one into the other would pass the test above: the two languages differ.
    same = [
        rule.pattern for rule in kb.rules
        if rule.result.vendor is not None and rule.result.vendor.key in NORDIC_VENDORS
        and rule.result.describe("sv") == rule.result.describe("da")
    ]
    assert same == []


def test_vendor_names_are_names_not_english_phrases(kb: KnowledgeBase) -> None:
    # A vendor's name is shown as it is in every language's declaration row: a product or
    # company name ("PHP", "cmp-server", "The Trade Desk"), never an English phrase ("PHP
    # sessions", "This site's consent banner"): a phrase's words are in lower case.
    english = {"and", "the", "this", "site's", "of", "with", "sign", "sessions", "web",
               "applications", "load", "balancing", "widget", "banner", "storage", "account"}
    phrases = {
        v.key: v.name for v in kb.vendors.values()
        if english & set(v.name.replace("(", " ").replace(")", " ").split())
    }
    assert phrases == {}


def test_every_description_of_the_knowledge_base_has_swedish_and_danish(
    kb: KnowledgeBase,
) -> None:
    # Not only the vendors above: whatever a scan finds on a Swedish or Danish site is
    # described in the visitor's language. A new entry comes with both.
    entries = [(v.key, v.description, v) for v in kb.vendors.values()] + [
        (rule.pattern, rule.result.description, rule.result) for rule in kb.rules
        if rule.result.source == "builtin"
    ]
    missing = [
        (name, language) for name, english, entry in entries if english
        for language in ("sv", "da")
        if entry.describe(language) in ("", english)
    ]
    assert missing == []
