"""Automatic blocking's rules (services/blocking.py): how a URL is matched, what is derived
from the inventory, the latest scan and the knowledge base, what staff's own rules change, and
what the published config, the publish summary and the lint say of them."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from cmp_server.errors import InvalidRequest, NotFound
from cmp_server.models import AuditEntry, Site
from cmp_server.schemas import BlockingRule
from cmp_server.services import blocking, changes, inventory, lint, publishing, sites
from cmp_server.services.scan_results import store_scan
from cmp_server.services.staff import Actor
from scanner import TrackerRequest

from .factories import staff_member
from .test_scans import item, report


def rule(host: str, path: str = "", *purposes: str) -> BlockingRule:
    return BlockingRule(host=host, path=path, purposes=list(purposes))


RULES = [
    rule("facebook.net", "", "marketing"),
    rule("connect.facebook.net", "/en_US/", "statistics"),
    rule("google.com", "", "marketing"),
    rule("www.google.com", "/recaptcha/"),
]


@pytest.mark.parametrize(
    ("url", "decided"),
    [
        ("https://connect.facebook.net/sv_SE/fbevents.js", "facebook.net"),
        ("https://CONNECT.facebook.net:8443/en_US/fbevents.js", "connect.facebook.net/en_US/"),
        ("https://facebook.net/x", "facebook.net"),
        ("https://notfacebook.net/x", None),  # a suffix of the name, not a parent domain
        ("https://www.google.com/recaptcha/api.js", "www.google.com/recaptcha/"),
        ("https://www.google.com/maps/embed", "google.com"),
        ("/relative/script.js", None),
        ("not a url", None),
    ],
)
def test_the_most_specific_rule_decides(url: str, decided: str | None) -> None:
    found = blocking.match(RULES, url)
    assert (found.host + found.path if found else None) == decided


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("connect.facebook.net", ("connect.facebook.net", "")),
        ("https://Connect.Facebook.NET/en_US/", ("connect.facebook.net", "/en_US/")),
        ("http://px.ads.linkedin.com/collect", ("px.ads.linkedin.com", "/collect")),
        ("www.example.com/", ("www.example.com", "")),
    ],
)
def test_a_rule_target_is_a_host_or_url_prefix(target: str, expected: tuple[str, str]) -> None:
    assert blocking.normalise_rule_target(target) == expected


@pytest.mark.parametrize(
    "target", ["", "javascript:alert(1)", "localhost", "ftp://files.example.com/", "http://[::1",
               "exa mple.com", "https://example.com/" + "x" * 600, "ex\x00ample.com",
               "example.com/a\x00b", "example.com/a b", "example.com/\ud800"],
)
def test_what_is_no_host_or_url_prefix_is_refused(target: str) -> None:
    with pytest.raises(InvalidRequest):
        blocking.normalise_rule_target(target)


async def _site() -> Site:
    site = await sites.create_site("Kursgården", ["kurser.example"], force=True)
    await inventory.add_vendor(site, key="meta", name="Meta Pixel")
    await inventory.add_vendor(site, key="google-analytics", name="Google Analytics")
    await inventory.add_item(site, name="_fbp", purpose="marketing", vendor="meta",
                             review_status="unreviewed")
    await inventory.add_item(site, name="_ga", purpose="statistics", vendor="google-analytics")
    await inventory.add_item(site, name="session", purpose="necessary")
    return site


def _by_key(rules: list[blocking.Rule]) -> dict[str, blocking.Rule]:
    return {r.key: r for r in rules}


async def test_rules_come_from_the_knowledge_bases_hosts_of_the_inventorys_vendors(
    app: Starlette,
) -> None:
    site = await _site()
    rules = _by_key(await blocking.derive_rules(site))
    # An unreviewed item blocks by its suggested purpose until staff decide.
    assert rules["connect.facebook.net"].purposes == ("marketing",)
    assert rules["connect.facebook.net"].vendors == ("Meta Pixel",)
    assert rules["connect.facebook.net"].items == ("_fbp",)
    assert rules["google-analytics.com"].purposes == ("statistics",)
    assert rules["googletagmanager.com/gtag/"].purposes == ("statistics",)
    # Necessary purposes are never blocked; no vendor, no host.
    assert not [r for r in rules.values() if "necessary" in r.purposes]
    assert all(r.enabled and not r.staff for r in rules.values())


async def test_staff_mapping_wins_and_a_necessary_mapping_unblocks(app: Starlette) -> None:
    site = await _site()
    await inventory.add_item(site, name="_fbp", purpose="necessary", vendor="meta")
    rules = _by_key(await blocking.derive_rules(site))
    assert "connect.facebook.net" not in rules
    assert "google-analytics.com" in rules


async def test_the_scan_adds_the_scripts_that_set_items_and_the_tracker_hosts(
    app: Starlette,
) -> None:
    site = await _site()
    scanned = report(
        item("_fbp", "marketing", vendor="meta",
             initiator="https://cdn.pixels.example/v2/px.js?id=1"),
        # The site's own script and an item of no purpose make no rule.
        item("own", "unclassified", vendor=None, initiator="https://www.kurser.example/app.js"),
    ).model_copy(update={"requests": (
        TrackerRequest(host="tr.pixels.example", vendor="meta", category="marketing",
                       passes=("accept",), example_url="https://tr.pixels.example/t"),
        TrackerRequest(host="stats.unknown.example", vendor=None, category="statistics",
                       passes=("none",), example_url="https://stats.unknown.example/c"),
    )})
    stored = await store_scan(site, scanned)
    rules = _by_key(await blocking.derive_rules(site))
    script = rules["cdn.pixels.example/v2/px.js"]
    assert script.purposes == ("marketing",) and script.items == ("_fbp",)
    assert f"scan {stored.id}" in script.reasons[0] and "_fbp" in script.reasons[0]
    assert rules["tr.pixels.example"].purposes == ("marketing",)  # the vendor's items' purpose
    assert rules["stats.unknown.example"].purposes == ("statistics",)  # the request's own
    assert not [r for r in rules.values() if "kurser.example" in r.host]


async def test_a_necessary_vendors_host_under_a_blocked_one_is_exempt(app: Starlette) -> None:
    site = await sites.create_site("Shop", ["shop.example"], force=True)
    await inventory.add_vendor(site, key="google", name="Google")
    await inventory.add_item(site, name="NID", purpose="marketing", vendor="google")
    rules = await blocking.derive_rules(site)
    config = blocking.published_blocking(rules, "enforce")
    decided = blocking.match(config.rules, "https://www.google.com/recaptcha/api.js")
    assert decided is not None and decided.purposes == [] and decided.host == "google.com"
    blocked = blocking.match(config.rules, "https://www.google.com/pagead/1p-user-list")
    assert blocked is not None and blocked.purposes == ["marketing"]


async def test_staff_add_change_turn_off_and_remove_rules_audited(app: Starlette) -> None:
    site = await _site()
    member = await staff_member("privacy")
    actor = Actor(member.id, member.email, member.name, member.role, "session", "csrf")
    added = await blocking.set_rule(site, "https://www.kurser.example/widgets/chat.js",
                                    ["preferences"], by=actor)
    assert (added.host, added.path, added.purposes, added.staff) == (
        "www.kurser.example", "/widgets/chat.js", ("preferences",), True)
    off = await blocking.set_rule(site, "connect.facebook.net", None, enabled=False, by=actor)
    assert off.purposes == ("marketing",) and not off.enabled  # the derived purposes, kept
    config = await publishing.build_config(site, 1)
    hosts = {r.host + r.path for r in config.blocking.rules}
    assert "www.kurser.example/widgets/chat.js" in hosts  # staff may block their own host
    assert "connect.facebook.net" not in hosts
    with pytest.raises(InvalidRequest):
        await blocking.set_rule(site, "tracker.example", ["no-such-purpose"])
    await blocking.remove_rule(site, "connect.facebook.net", by=actor)
    assert _by_key(await blocking.derive_rules(site))["connect.facebook.net"].enabled
    with pytest.raises(NotFound):
        await blocking.remove_rule(site, "connect.facebook.net")
    actions = [e.action for e in await AuditEntry.filter(site=site).order_by("id")
               if e.action.startswith("blocking")]
    assert actions == ["blocking.rule", "blocking.rule", "blocking.rule.remove"]


async def test_the_published_config_carries_the_rules_as_the_mode_says(app: Starlette) -> None:
    site = await _site()
    version = await publishing.publish(site)
    config = publishing.parse_config(version)
    assert config.blocking.mode == "enforce"
    assert {"host": "connect.facebook.net", "path": "", "purposes": ["marketing"]} in [
        r.model_dump() for r in config.blocking.rules]
    await sites.update_site(site, options={"auto_blocking": "report"})
    summary = await changes.publish_summary(site)
    assert [c.key for c in summary.changes.settings] == ["options.auto_blocking"]
    assert publishing.parse_config(await publishing.publish(site)).blocking.mode == "report"
    await sites.update_site(site, options={"auto_blocking": "off"})
    off = publishing.parse_config(await publishing.publish(site)).blocking
    assert off.rules == [] and off.mode == "enforce"
    with pytest.raises(InvalidRequest):
        await sites.update_site(site, options={"auto_blocking": "sometimes"})


async def test_the_publish_summary_lists_rule_changes(app: Starlette) -> None:
    site = await _site()
    await publishing.publish(site)
    await blocking.set_rule(site, "ads.example.org/px/", ["marketing"])
    await blocking.set_rule(site, "google-analytics.com", None, enabled=False)
    rules = (await changes.publish_summary(site)).changes.rules
    assert {(c.kind, c.key) for c in rules} == {
        ("added", "ads.example.org/px/"), ("removed", "google-analytics.com")}


async def test_the_lint_warns_of_third_party_hosts_no_rule_holds_back(app: Starlette) -> None:
    site = await _site()
    await store_scan(site, report(
        item("_fbp", "marketing", vendor="meta", initiator="https://connect.facebook.net/x.js"),
        item("_uid", "unclassified", vendor=None, initiator="https://cdn.unknown.example/u.js"),
        item("own", "unclassified", vendor=None, initiator="https://kurser.example/own.js"),
    ))
    found = [f for f in await lint.lint(site) if f.code == "no_rule"]
    assert [f.message.split()[0] for f in found] == ["cdn.unknown.example"]
    assert not found[0].is_error
    await sites.update_site(site, options={"auto_blocking": "report"})
    assert "report_only" in {f.code for f in await lint.lint(site)}


async def test_hosts_come_from_the_vendor_the_knowledge_base_knows_the_item_by(
    app: Starlette,
) -> None:
    """Staff filed _ga under a "Google" of their own: the hosts that serve it are Google
    Analytics' (the knowledge base knows _ga), not all of google.com; an item the knowledge
    base does not know keeps its vendor's hosts."""
    site = await sites.create_site("Kurs", ["kurser.example"], force=True)
    await inventory.add_vendor(site, key="google", name="Google")
    await inventory.add_vendor(site, key="meta", name="Meta Pixel")
    await inventory.add_item(site, name="_ga", purpose="statistics", vendor="google")
    await inventory.add_item(site, name="own_meta_thing", purpose="marketing", vendor="meta")
    rules = _by_key(await blocking.derive_rules(site))
    assert rules["google-analytics.com"].purposes == ("statistics",)
    assert rules["google-analytics.com"].vendors == ("Google",)  # as staff call it
    assert "google.com" not in rules
    assert rules["connect.facebook.net"].items == ("own_meta_thing",)
