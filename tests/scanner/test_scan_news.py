"""A site that breaks consent, behind a foreign banner that autoconsent's rules answer."""

import pytest

from scanner import ScanOptions, ScanReport, scan_site
from tests.scanner.fakeweb import FakeWeb

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
async def report(web: FakeWeb) -> ScanReport:
    options = ScanOptions(
        start_url=web.url("www.news.test"), max_pages=5, concurrency=2, settle=0.3,
        idle_timeout=2, consent_timeout=5, ignore_https_errors=True,
        browser_args=web.browser_args, use_sitemap=False,
    )
    return await scan_site(options)


def _item(report: ScanReport, kind: str, name: str):  # type: ignore[no-untyped-def]
    (item,) = [i for i in report.items if i.kind == kind and i.name == name]
    return item


def _violations(report: ScanReport, pass_: str) -> set[tuple[str, str, str]]:
    return {(v.kind, v.name, v.category) for v in report.violations if v.pass_ == pass_}


def test_foreign_banner_is_answered_by_its_rule(report: ScanReport) -> None:
    assert report.consent["accept"] == "autoconsent:Complianz banner"
    assert report.consent["reject"] == "autoconsent:Complianz banner"
    assert _item(report, "cookie", "_fbp").passes == ("accept",)


def test_tracking_before_consent_is_a_violation(report: ScanReport) -> None:
    expected = {
        ("cookie", "_ga", "statistics"),
        ("cookie", "_ga_ABC123", "statistics"),
        ("cookie", "YSC", "marketing"),
        ("cookie", "VISITOR_INFO1_LIVE", "marketing"),
        ("localStorage", "yt-remote-device-id", "marketing"),
        ("sessionStorage", "yt-remote-session-app", "marketing"),
        ("indexedDB", "YtIdbMeta", "marketing"),
        ("request", "region1.google-analytics.com", "statistics"),
        ("request", "www.youtube.com", "marketing"),
    }
    assert expected <= _violations(report, "none")
    assert expected <= _violations(report, "reject")
    assert not any(v.name in ("_fbp", "fr") for v in report.violations)
    beacon = next(v for v in report.violations
                  if v.name == "region1.google-analytics.com" and v.pass_ == "none")
    assert beacon.reason == "request to a statistics tracker before consent"


def test_storage_in_a_cross_origin_iframe(report: ScanReport, web: FakeWeb) -> None:
    ls = _item(report, "localStorage", "yt-remote-device-id")
    assert (ls.domain, ls.party, ls.vendor, ls.set_by) == (
        "www.youtube.com", "third", "youtube", "script")
    assert ls.initiator == web.url("www.youtube.com", "/embed/abc")
    idb = _item(report, "indexedDB", "YtIdbMeta")
    assert (idb.domain, idb.party) == ("www.youtube.com", "third")


def test_third_party_http_cookies_from_an_iframe(report: ScanReport, web: FakeWeb) -> None:
    ysc = _item(report, "cookie", "YSC")
    assert (ysc.domain, ysc.party, ysc.set_by, ysc.expires_days, ysc.vendor) == (
        ".youtube.com", "third", "http", None, "youtube")
    assert ysc.first_seen_url == web.url("www.news.test")
    visitor = _item(report, "cookie", "VISITOR_INFO1_LIVE")
    assert visitor.expires_days is not None and 179 < visitor.expires_days <= 180
