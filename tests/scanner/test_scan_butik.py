"""Precision on a site under a real public suffix (.se): only what the browser kept is an item,
only what is known to be non-necessary is a violation, the site's own items name the site."""

import pytest

from scanner import ReportItem, ScanOptions, ScanReport, scan_site
from tests.scanner.fakeweb import FakeWeb

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
async def report(web: FakeWeb) -> ScanReport:
    options = ScanOptions(
        start_url=web.url("www.butik.se"), max_pages=5, concurrency=2, settle=0.3,
        idle_timeout=2, consent_timeout=5, ignore_https_errors=True,
        browser_args=web.browser_args, use_sitemap=False,
    )
    return await scan_site(options)


def _item(report: ScanReport, name: str) -> ReportItem:
    (item,) = [i for i in report.items if i.name == name]
    return item


def test_writes_to_a_public_suffix_are_refused_not_reported(report: ScanReport) -> None:
    # The tag tries .se first on every page; on the second page _ga is already in the jar,
    # so a check by name alone took the refused write for a cookie.
    assert {(i.name, i.domain) for i in report.items if i.name.startswith("_ga")} == {
        ("_ga", ".butik.se"), ("_ga_ABC123", ".butik.se")}
    assert not any(i.domain == ".se" for i in report.items)
    assert not any(v.domain == ".se" for v in report.violations + report.review)
    refused = {(r.name, r.domain, r.reason, r.set_by) for r in report.refused_writes}
    assert ("_ga", ".se", "domain .se is a public suffix", "script") in refused
    assert ("_ga_ABC123", ".se", "domain .se is a public suffix", "script") in refused
    assert ("butik_cs", ".se", "domain .se is a public suffix", "script") in refused


def test_a_cross_site_cookie_without_samesite_none_is_refused(report: ScanReport) -> None:
    assert not any(i.name == "adn_uid" for i in report.items)
    (refused,) = [r for r in report.refused_writes if r.name == "adn_uid"]
    assert (refused.domain, refused.set_by, refused.passes) == (
        "px.adnet.test", "http", ("none", "accept", "reject"))
    assert refused.reason == "SameSite=Lax (the default) in a cross-site response"


def test_violations_hold_only_known_non_necessary_items(report: ScanReport) -> None:
    found = {(v.pass_, v.kind, v.name) for v in report.violations}
    expected = {(p, kind, name) for p in ("none", "reject") for kind, name in (
        ("cookie", "_ga"), ("cookie", "_ga_ABC123"), ("request", "region1.google-analytics.com"),
        ("request", "www.googletagmanager.com"))}
    assert found == expected
    assert all(v.category != "unclassified" for v in report.violations)


def test_unclassified_items_are_possible_violations_apart(report: ScanReport) -> None:
    review = {(v.pass_, v.kind, v.name, v.vendor) for v in report.review}
    assert review == {(p, kind, name, "butik.se") for p in ("none", "reject") for kind, name in (
        ("cookie", "butik_sess"), ("cookie", "butik_valuta"), ("localStorage", "butik_cart"))}
    assert all(v.reason.endswith("possible violation") for v in report.review)


def test_the_sites_own_items_name_the_site(report: ScanReport, web: FakeWeb) -> None:
    session = _item(report, "butik_sess")
    assert (session.vendor, session.vendor_name, session.attributed_by, session.category) == (
        "butik.se", "butik.se", "first-party", "unclassified")
    assert (session.set_by, session.initiator) == ("http", web.url("www.butik.se"))
    app = web.url("www.butik.se", "/js/app.js")
    for name in ("butik_valuta", "butik_cart"):
        item = _item(report, name)
        assert (item.vendor, item.attributed_by, item.initiator) == ("butik.se", "first-party", app)


def test_a_load_balancer_cookie_is_known(report: ScanReport) -> None:
    lb = _item(report, "BIGipServer~butik~pool_web")
    assert (lb.vendor, lb.category, lb.attributed_by) == ("f5", "necessary", "pattern")


def test_the_banner_tools_own_cookie_is_known(report: ScanReport) -> None:
    assert report.consent == {"none": "not asked", "accept": "text", "reject": "text"}
    banner = _item(report, "cookiehub")
    assert (banner.vendor, banner.category, banner.passes) == (
        "cookiehub", "necessary", ("accept", "reject"))
    assert not any(v.name == "cookiehub" for v in report.violations + report.review)
