"""What a scan proves of automatic blocking (``services/scan_blocking.py``): what waited for
consent, "N blocked, M still fired", and the rule behind each finding, matched against the
config version live when the scan finished; and the derivation fix it needed
(``blocking.derive_rules``: a tracker request's rule keeps its vendor's path)."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.applications import Starlette

from cmp_server.models import Site
from cmp_server.schemas import BlockingRule
from cmp_server.services import blocking, publishing
from cmp_server.services.scan_findings import scan_detail
from cmp_server.services.scan_results import store_scan
from scanner import HeldResource, PossibleViolation, ScanReport, TrackerRequest, Violation

from .factories import published_site
from .test_scans import finding, item, report

FBEVENTS = "https://connect.facebook.net/en_US/fbevents.js"
PIXEL = "https://www.facebook.com/tr/?id=1&ev=PageView"
COLLECT = "https://region1.google-analytics.com/g/collect?v=2"


def held(pass_: str, url: str, state: str, kind: str = "script", page: str = "/",
         host: str = "connect.facebook.net", purposes: tuple[str, ...] = ("marketing",)
         ) -> HeldResource:
    return HeldResource.model_validate({
        "pass": pass_, "page_url": "https://shop.example" + page, "url": url, "type": kind,
        "purposes": purposes, "rule_host": host, "rule_path": "", "state": state,
    })


def tagged_report() -> ScanReport:
    """Our banner answered; it held the pixel script (released on accept), an image on two
    pages, dropped a fetch; yet _fbp fired before consent (its rule failed), the site's own
    preference cookie (no rule) and a cookie nobody saw set."""
    fbp = item("_fbp", "marketing", "meta", initiator=FBEVENTS, passes=("none", "accept"))
    pref = item("site_pref", "unclassified", None, initiator="https://shop.example/app.js",
                passes=("none",))
    ghost = item("ghost", "marketing", None, initiator=None, passes=("reject",))
    tracker = TrackerRequest(host="px.tracker.example", vendor=None, category="marketing",
                             passes=("none",), example_url="https://px.tracker.example/p.gif")
    request = Violation.model_validate({
        "pass": "none", "kind": "request", "name": "px.tracker.example",
        "domain": "px.tracker.example", "vendor": None, "category": "marketing",
        "reason": "request to a marketing tracker before consent",
        "url": "https://px.tracker.example/p.gif"})
    base = report(
        fbp, pref, ghost,
        violations=(finding(Violation, "_fbp", "marketing"),
                    finding(Violation, "_fbp", "marketing", "reject"),
                    finding(Violation, "ghost", "marketing", "reject"), request),
        review=(finding(PossibleViolation, "site_pref", "unclassified"),),
    )
    return base.model_copy(update={
        "requests": (tracker,),
        "passes": ("none", "accept", "reject"),
        "consent": {"none": "not asked", "accept": "cmp", "reject": "cmp"},
        "consent_blocking": (
            held("none", FBEVENTS, "held"), held("reject", FBEVENTS, "held"),
            held("accept", FBEVENTS, "released"),
            held("none", PIXEL, "held", "img", host="www.facebook.com"),
            held("none", PIXEL, "held", "img", "/about", host="www.facebook.com"),
            held("none", COLLECT, "dropped", "fetch", host="google-analytics.com",
                 purposes=("statistics",)),
            # Held only in the accept pass: it waited, but not before consent.
            held("accept", "https://static.hotjar.com/c/h.js", "released",
                 host="hotjar.com", purposes=("statistics",)),
        ),
    })


async def _with_rules(site: Site) -> int:
    await blocking.set_rule(site, "connect.facebook.net", ["marketing"])
    await blocking.set_rule(site, "shop-cdn.example/free/", [])
    return (await publishing.publish(site)).number


async def test_a_tagged_scan_says_what_waited_and_what_fired(app: Starlette) -> None:
    site, _ = await published_site()
    live = await _with_rules(site)
    scan = await store_scan(site, tagged_report())
    detail = await scan_detail(site, scan.id)
    proof = detail.blocking
    assert proof.carries_tag and proof.config_version == live and proof.mode == "enforce"
    assert proof.rules >= 2
    # N: the script, the image (two pages, once) and the dropped fetch; not the one held
    # only in the accept pass. M: _fbp, ghost and the tracker host, each once.
    assert (proof.blocked, proof.fired) == (3, 3)
    by_url = {r.url: r for r in proof.resources}
    script = by_url[FBEVENTS]
    assert (script.held_in, script.accept, script.rule, script.pages) == (
        ("none", "reject"), "released", "connect.facebook.net", 1)
    assert (by_url[PIXEL].held_in, by_url[PIXEL].accept, by_url[PIXEL].pages) == (
        ("none",), None, 2)
    assert by_url[COLLECT].held_in == ("none",) and by_url[COLLECT].type == "fetch"
    assert not by_url["https://static.hotjar.com/c/h.js"].blocked_before_consent
    assert [r.url for r in proof.resources][-1] == "https://static.hotjar.com/c/h.js"

    checks = {(f.pass_, f.name): f.rule for f in detail.violations}
    fbp = checks[("none", "_fbp")]
    assert fbp is not None and fbp.outcome == "failed" and fbp.url == FBEVENTS
    assert fbp.target == "connect.facebook.net" and fbp.rule.purposes == ["marketing"]  # type: ignore[union-attr]
    ghost = checks[("reject", "ghost")]
    assert ghost is not None and ghost.outcome == "unknown"
    tracker = checks[("none", "px.tracker.example")]
    assert tracker is not None and tracker.outcome == "no rule"
    (pref,) = detail.review
    assert pref.rule is not None and pref.rule.outcome == "no rule"


async def test_findings_are_matched_against_the_version_live_at_the_scan(
    app: Starlette
) -> None:
    site, first = await published_site()
    scan = await store_scan(site, tagged_report())
    await _with_rules(site)  # published after the scan: not what the scan met
    detail = await scan_detail(site, scan.id)
    assert detail.blocking.config_version == first.number
    fbp = next(f for f in detail.violations if f.name == "_fbp")
    assert fbp.rule is not None and fbp.rule.outcome == "no rule"


async def test_an_exemption_and_report_only_mode(app: Starlette) -> None:
    site, _ = await published_site()
    await blocking.set_rule(site, "connect.facebook.net/en_US/", [])
    await blocking.set_rule(site, "px.tracker.example", ["marketing"])
    site.options = {**site.options, "auto_blocking": "report"}
    await site.save(update_fields=["options"])
    await publishing.publish(site)
    scan = await store_scan(site, tagged_report())
    detail = await scan_detail(site, scan.id)
    outcomes = {f.name: f.rule.outcome for f in detail.violations if f.rule}
    assert outcomes["_fbp"] == "exempt"
    assert outcomes["px.tracker.example"] == "reported"
    assert detail.blocking.mode == "report"


async def test_a_scan_without_our_tag_or_stored_before_it_proves_nothing(
    app: Starlette
) -> None:
    site, _ = await published_site()
    old = report(item("_ga", passes=("none",)), violations=(finding(Violation, "_ga",
                                                                       "statistics"),))
    body = old.model_dump(mode="json")
    del body["consent_blocking"]
    body["scanner"] = "cmp-scanner/2"
    scan = await store_scan(site, ScanReport.model_validate(body))
    detail = await scan_detail(site, scan.id)
    assert not detail.blocking.carries_tag and detail.blocking.resources == ()
    assert detail.blocking.fired == 1
    (ga,) = detail.violations
    assert ga.rule is not None and ga.rule.outcome == "unknown"  # no initiator in it


async def test_a_tracker_requests_rule_keeps_its_vendors_path(app: Starlette) -> None:
    # www.googletagmanager.com serves Google Analytics under /gtag/ and the tag manager
    # (necessary) elsewhere: the request's rule holds back /gtag/ only.
    site, _ = await published_site()
    gtag = TrackerRequest(
        host="www.googletagmanager.com", vendor="google-analytics", category="statistics",
        passes=("none",), example_url="https://www.googletagmanager.com/gtag/js?id=G-1")
    beacon = TrackerRequest(
        host="region1.google-analytics.com", vendor="google-analytics",
        category="statistics", passes=("none",),
        example_url="https://region1.google-analytics.com/g/collect?v=2")
    await store_scan(site, report(item("_ga")).model_copy(
        update={"requests": (gtag, beacon), "finished_at": datetime.now(UTC)}))
    rules = {(r.host, r.path): r.purposes for r in await blocking.derive_rules(site)}
    assert rules[("www.googletagmanager.com", "/gtag/")] == ("statistics",)
    assert ("www.googletagmanager.com", "") not in rules
    assert rules[("region1.google-analytics.com", "")] == ("statistics",)
    decided = blocking.match(
        [BlockingRule(host=h, path=p, purposes=list(v)) for (h, p), v in rules.items()],
        "https://www.googletagmanager.com/gtm.js?id=GTM-1")
    assert decided is None
