"""Our own banner: nothing optional before consent or after reject, everything after accept."""

import pytest

from scanner import ScanOptions, ScanReport, scan_site
from tests.scanner.fakeweb import FakeWeb

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
async def report(web: FakeWeb) -> ScanReport:
    options = ScanOptions(
        start_url=web.url("www.shop.test"), max_pages=10, concurrency=3, settle=0.3,
        idle_timeout=2, consent_timeout=4, ignore_https_errors=True,
        browser_args=web.browser_args,
    )
    return await scan_site(options)


def _cookie(report: ScanReport, name: str):  # type: ignore[no-untyped-def]
    (item,) = [i for i in report.items if i.kind == "cookie" and i.name == name]
    return item


def test_crawl_follows_links_and_sitemap_index(report: ScanReport, web: FakeWeb) -> None:
    none_pages = sorted(p.url for p in report.pages if p.pass_ == "none")
    assert none_pages == sorted(web.url("www.shop.test", path)
                                for path in ("/", "/products", "/about", "/campaign"))
    assert all(p.status == 200 and p.error is None for p in report.pages)
    # Every pass visits the same pages.
    assert sorted(p.url for p in report.pages if p.pass_ == "reject") == none_pages


def test_our_banner_is_answered_through_window_cmp(report: ScanReport) -> None:
    assert report.consent == {"none": "not asked", "accept": "cmp", "reject": "cmp"}


def test_script_cookies_after_accept_are_attributed(report: ScanReport, web: FakeWeb) -> None:
    ga = _cookie(report, "_ga")
    assert (ga.domain, ga.party, ga.set_by, ga.vendor, ga.category, ga.passes) == (
        ".shop.test", "first", "script", "google-analytics", "statistics", ("accept",))
    assert ga.initiator == web.url("www.googletagmanager.com", "/gtag/js?id=G-ABC123")
    assert ga.expires_days is not None and ga.expires_days > 390
    assert _cookie(report, "_ga_ABC123").vendor == "google-analytics"


def test_cookie_on_a_page_only_in_the_sitemap(report: ScanReport, web: FakeWeb) -> None:
    fbp = _cookie(report, "_fbp")
    assert fbp.first_seen_url == web.url("www.shop.test", "/campaign")
    assert (fbp.set_by, fbp.party, fbp.category, fbp.passes) == (
        "script", "first", "marketing", ("accept",))
    assert fbp.initiator == web.url("connect.facebook.net", "/en_US/fbevents.js")


def test_first_party_http_cookie(report: ScanReport, web: FakeWeb) -> None:
    session = _cookie(report, "PHPSESSID")
    assert (session.domain, session.party, session.set_by, session.http_only) == (
        "www.shop.test", "first", "http", True)
    assert (session.category, session.expires_days, session.same_site) == (
        "necessary", None, "Lax")
    assert session.initiator == web.url("www.shop.test")
    assert session.passes == ("none", "accept", "reject")


def test_third_party_http_cookie_from_a_pixel(report: ScanReport, web: FakeWeb) -> None:
    fr = _cookie(report, "fr")
    assert (fr.domain, fr.party, fr.set_by, fr.http_only, fr.secure, fr.same_site) == (
        ".facebook.com", "third", "http", True, True, "None")
    assert fr.initiator == web.url("www.facebook.com", "/tr/?id=1234&ev=PageView")
    assert fr.category == "marketing" and fr.passes == ("accept",)


def test_consent_cookie_is_kept_in_both_answered_passes(report: ScanReport, web: FakeWeb) -> None:
    consent = _cookie(report, "cmp_consent")
    assert (consent.passes, consent.category, consent.vendor) == (
        ("accept", "reject"), "necessary", "cmp")
    assert consent.initiator == web.url("consent.cmp.test", "/v1/sites/demo/cmp.js")


def test_no_tracker_fires_before_consent_or_after_reject(report: ScanReport) -> None:
    assert report.violations == ()
    hosts = {r.host: r.passes for r in report.requests}
    assert hosts["region1.google-analytics.com"] == ("accept",)
    assert hosts["www.facebook.com"] == ("accept",)


def test_the_scan_stays_on_this_machine(report: ScanReport, web: FakeWeb) -> None:
    # Every host name resolves to the fixture server (MAP * 127.0.0.1), so anything the
    # browser asked for, Chromium's own background calls included, lands in its log: only
    # the fixture hosts may appear there.
    fixture_hosts = {host for host, _ in web.routes}
    assert {"www.shop.test", "www.facebook.com", "consent.cmp.test"} <= web.hosts_seen()
    assert web.hosts_seen() <= fixture_hosts
