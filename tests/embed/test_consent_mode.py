"""Google Consent Mode v2: defaults before any tag, an update after every choice, GTM events."""

from __future__ import annotations

from .banner import data_layer
from .conftest import Visit
from .factories import Tag, page
from .servers import HostServer

TYPES = ["ad_storage", "ad_user_data", "ad_personalization", "analytics_storage",
         "functionality_storage", "personalization_storage", "security_storage"]

# A "tag" placed right after ours in <head>: what does it find in the dataLayer?
TAG_AFTER = """<script>window.seenByTag = JSON.parse(JSON.stringify((window.dataLayer || []).map(
    (x) => Object.prototype.toString.call(x) === '[object Arguments]' ? Array.from(x) : x)));
</script>"""


def signals(ad: str, analytics: str, functionality: str) -> dict[str, str]:
    return {"ad_storage": ad, "ad_user_data": ad, "ad_personalization": ad,
            "analytics_storage": analytics, "functionality_storage": functionality,
            "personalization_storage": functionality, "security_storage": "granted"}


async def test_default_before_any_tag_then_update_after_each_choice(
    visit: Visit, host: HostServer, tag: Tag, path: str
) -> None:
    # No blocked scripts: the withdrawal below does not reload the page (test_withdrawal.py).
    await visit.page.goto(host.add(path, page(tag, head=TAG_AFTER, body="")))
    default = {**signals("denied", "denied", "denied"), "wait_for_update": 500}
    seen = await visit.page.evaluate("window.seenByTag")
    assert seen == [
        ["consent", "default", default],
        ["set", "ads_data_redaction", True],
        ["set", "url_passthrough", False],
    ]
    assert set(seen[0][2]) == {*TYPES, "wait_for_update"}

    await visit.page.get_by_role("button", name="Accept all").click()
    await visit.page.evaluate("window.cmp.setConsent({marketing: false})")
    layer = await data_layer(visit.page)
    assert layer[3:] == [
        ["consent", "update", signals("granted", "granted", "granted")],
        {"event": "cmp_consent_update", "cmp_method": "accept_all",
         "cmp_consent": {"necessary": True, "preferences": True, "statistics": True,
                         "marketing": True}},
        ["consent", "update", signals("denied", "granted", "granted")],
        {"event": "cmp_consent_update", "cmp_method": "withdraw",
         "cmp_consent": {"necessary": True, "preferences": True, "statistics": True,
                         "marketing": False}},
    ]


async def test_a_returning_visitor_gets_the_update_before_any_tag(
    visit: Visit, host: HostServer, tag: Tag, path: str
) -> None:
    url = host.add(path, page(tag, head=TAG_AFTER))
    await visit.page.goto(url)
    await visit.page.evaluate("window.cmp.setConsent({statistics: true})")
    await visit.page.goto(url)
    seen = await visit.page.evaluate("window.seenByTag")
    assert [s[:2] for s in seen[:4]] == [["consent", "default"], ["set", "ads_data_redaction"],
                                         ["set", "url_passthrough"], ["consent", "update"]]
    assert seen[3][2] == signals("denied", "granted", "denied")
    assert seen[4]["event"] == "cmp_consent_ready"
    assert seen[4]["cmp_consent"]["statistics"] is True
    assert len(seen) == 5
