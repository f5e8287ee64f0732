"""Sites and their draft: purposes, texts, options; what counts as a material change."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from cmp_server._utils import new_site_key
from cmp_server.errors import DomainClaimed, InvalidRequest
from cmp_server.models import Purpose, Site
from cmp_server.services import inventory, publishing, sites


async def test_new_site_has_four_default_purposes_in_three_languages(app: Starlette) -> None:
    site = await sites.create_site("Kursgården", ["www.Kursgarden.se."])
    assert site.domains == ["www.kursgarden.se"]
    purposes = await Purpose.filter(site=site).order_by("order")
    assert [(p.key, p.required) for p in purposes] == [
        ("necessary", True),
        ("preferences", False),
        ("statistics", False),
        ("marketing", False),
    ]
    for purpose in purposes:
        assert set(purpose.name) == {"en", "sv", "da"}
        assert all(purpose.description.values())
    assert site.texts["da"]["accept_all"] == "Accepter alle"
    assert site.consent_lifetime_days == 180


@pytest.mark.parametrize(
    "domains",
    [
        [],
        ["not a domain"],
        ["http://"],
        # A scheme or a path: refused, not cut down to a host ("javascript" was stored).
        ["javascript:alert(1)"],
        ["https://www.kursgarden.se/"],
        ["kursgarden.se/kurser"],
        ["kursgarden.se:8443"],
    ],
)
async def test_site_needs_real_domains(app: Starlette, domains: list[str]) -> None:
    with pytest.raises(InvalidRequest):
        await sites.create_site("X", domains)
    assert await Site.filter(name="X").count() == 0


async def test_domains_are_host_names_ip_addresses_or_international_names(app: Starlette) -> None:
    site = await sites.create_site("X", ["Kursgården.se", "127.0.0.1", "::1"])
    assert site.domains == ["xn--kursgrden-92a.se", "127.0.0.1", "::1"]


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,x", "//evil.example/",
            "ftp://files.example/policy", "https://", "x" * 2001]
)
async def test_policy_urls_must_be_http(app: Starlette, url: str) -> None:
    with pytest.raises(InvalidRequest, match="policy URL"):
        await sites.create_site("X", ["x.example"], policy_url=url)
    site = await sites.create_site("Y", ["y.example"], policy_url="/cookies")
    with pytest.raises(InvalidRequest, match="policy URL"):
        await sites.update_site(site, policy_url=url)
    with pytest.raises(InvalidRequest, match="privacy policy URL"):
        await inventory.add_vendor(site, key="v", name="V", privacy_policy_url=url)
    await site.refresh_from_db()
    assert site.policy_url == "/cookies"
    assert await site.vendors.all().count() == 0


async def test_policy_url_may_be_https_or_a_path_and_empty_clears_it(app: Starlette) -> None:
    site = await sites.create_site("X", ["x.example"], policy_url="https://x.example/cookies")
    assert site.policy_url == "https://x.example/cookies"
    await sites.update_site(site, policy_url="")
    assert site.policy_url is None
    # A vendor's policy is on the vendor's own site: a path means nothing there.
    with pytest.raises(InvalidRequest):
        await inventory.add_vendor(site, key="v", name="V", privacy_policy_url="/privacy")


async def test_a_domain_another_site_has_needs_force(app: Starlette) -> None:
    first = await sites.create_site("First", ["kursgarden.se"])
    with pytest.raises(DomainClaimed, match="kursgarden.se"):
        await sites.create_site("Second", ["www.example.se", "Kursgarden.se"])
    assert await Site.filter(name="Second").count() == 0
    # A site keeps its own domains without force.
    await sites.update_site(first, domains=["kursgarden.se", "www.kursgarden.se"])
    other = await sites.create_site("Other", ["other.example"])
    with pytest.raises(DomainClaimed):
        await sites.update_site(other, domains=["www.kursgarden.se"])
    second = await sites.create_site("Second", ["kursgarden.se"], force=True)
    assert second.domains == ["kursgarden.se"]
    assert await sites.claimed_domains(["kursgarden.se"], other_than=first) == ["kursgarden.se"]


async def test_adding_a_purpose_is_material_but_renaming_is_not(app: Starlette) -> None:
    site = await sites.create_site("Shop", ["shop.example"])
    v1 = await publishing.publish(site)
    await sites.set_purpose(site, "statistics", name={"en": "Usage statistics"})
    v2 = await publishing.publish(site)
    assert v2.material_hash == v1.material_hash
    await sites.set_purpose(site, "personalisation", name={"en": "Personalisation"})
    v3 = await publishing.publish(site)
    assert v3.material_hash != v2.material_hash
    config = publishing.parse_config(v3)
    assert [p.key for p in config.purposes][-1] == "personalisation"
    await sites.set_purpose(site, "personalisation", required=True)
    assert (await publishing.publish(site)).material_hash != v3.material_hash


async def test_a_new_vendor_is_material(app: Starlette) -> None:
    site = await sites.create_site("Shop", ["shop.example"])
    v1 = await publishing.publish(site)
    await inventory.add_vendor(site, key="hotjar", name="Hotjar", country="MT")
    assert (await publishing.publish(site)).material_hash != v1.material_hash


async def test_removed_purpose_leaves_its_items_unclassified(app: Starlette) -> None:
    site = await sites.create_site("Shop", ["shop.example"])
    item = await inventory.add_item(site, name="_ga", purpose="statistics")
    await sites.remove_purpose(site, "statistics")
    await item.refresh_from_db()
    assert item.purpose_id is None  # type: ignore[attr-defined]
    config = publishing.parse_config(await publishing.publish(site))
    assert config.cookies == []  # unclassified items are not published under a purpose
    with pytest.raises(InvalidRequest):
        await sites.remove_purpose(site, "statistics")


@pytest.mark.parametrize(
    "options",
    [
        {"consent_mode": {"map": {"ad_storage": ["nonexistent"]}}},
        {"consent_mode": {"map": {"made_up_signal": ["marketing"]}}},
        {"gpc": {"honour": True, "purposes": ["nope"]}},
        {"cookie_name": "has space"},
        {"surprise": 1},
    ],
)
async def test_bad_options_are_refused(app: Starlette, options: dict[str, object]) -> None:
    site = await sites.create_site("Shop", ["shop.example"])
    before = dict(site.options)
    with pytest.raises(InvalidRequest):
        await sites.update_site(site, options=options)
    assert site.options == before


async def test_options_and_texts_reach_the_next_version(app: Starlette) -> None:
    site = await sites.create_site("Shop", ["shop.example"])
    await sites.update_site(
        site,
        options={
            "floating_button": False,
            "gpc": {"honour": True, "purposes": ["marketing", "statistics"]},
        },
        texts={"sv": {"title": "Kakor på Kursgården"}},
        cookie_domain=".shop.example",
        consent_lifetime_days=365,
    )
    config = publishing.parse_config(await publishing.publish(site))
    assert config.options.floating_button is False
    assert config.options.gpc.purposes == ["marketing", "statistics"]
    assert config.options.cookie_domain == ".shop.example"
    assert config.options.consent_lifetime_days == 365
    assert config.texts["sv"]["title"] == "Kakor på Kursgården"
    with pytest.raises(InvalidRequest):
        await sites.update_site(site, texts={"fi": {"title": "Evästeet"}})
    with pytest.raises(InvalidRequest):
        await sites.update_site(site, consent_lifetime_days=1000)


def test_site_keys_start_with_a_letter_or_digit() -> None:
    # token_urlsafe starts one key in 32 with '-' or '_': 2,000 keys would show it.
    keys = {new_site_key() for _ in range(2000)}
    assert len(keys) == 2000
    assert all(key[0].isalnum() and len(key) == 16 for key in keys)
