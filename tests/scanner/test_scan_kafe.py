"""A home-made Swedish banner in a shadow root; a tracker that writes late."""

import pytest

from scanner import ScanOptions, ScanReport, scan_site
from tests.scanner.fakeweb import FakeWeb

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
async def report(web: FakeWeb) -> ScanReport:
    options = ScanOptions(
        start_url=web.url("www.kafe.test"), max_pages=3, settle=1.6, idle_timeout=2,
        consent_timeout=5, ignore_https_errors=True, browser_args=web.browser_args,
        use_sitemap=False,
    )
    return await scan_site(options)


def _names(report: ScanReport, pass_: str) -> set[str]:
    return {i.name for i in report.items if pass_ in i.passes}


def test_text_fallback_clicks_accept_and_reject(report: ScanReport) -> None:
    assert report.consent == {"none": "not asked", "accept": "text", "reject": "text"}
    consent = next(i for i in report.items if i.name == "kafe_consent")
    assert consent.passes == ("accept", "reject")


def test_late_cookie_and_storage_after_accept(report: ScanReport, web: FakeWeb) -> None:
    late = next(i for i in report.items if i.name == "_hjSessionUser_123")
    assert (late.set_by, late.party, late.domain, late.passes, late.vendor, late.category) == (
        "script", "first", ".kafe.test", ("accept",), "hotjar", "statistics")
    assert late.initiator == web.url("static.hotjar.com", "/c/hotjar-123.js")
    assert "_hjUserAttributes" in _names(report, "accept")


def test_cookie_written_and_deleted_at_once_is_still_reported(report: ScanReport) -> None:
    probe = next(i for i in report.items if i.name == "_hjTLDTest")
    assert (probe.set_by, probe.passes) == ("script", ("accept",))


def test_nothing_from_hotjar_without_accept(report: ScanReport) -> None:
    assert not any(n.startswith("_hj") for n in _names(report, "none") | _names(report, "reject"))


def test_unknown_consent_cookie_is_for_review_not_a_violation(report: ScanReport) -> None:
    # The site's own consent cookie is in no knowledge base: unclassified, and since it is
    # stored in the reject pass it is a possible violation, listed apart (scanner/_inspect.py).
    assert report.violations == ()
    assert [(v.pass_, v.name, v.category, v.vendor, v.reason) for v in report.review] == [
        ("reject", "kafe_consent", "unclassified", "kafe.test",
         "unclassified cookie set after the visitor rejected: possible violation"),
    ]
    consent = next(i for i in report.items if i.name == "kafe_consent")
    assert (consent.vendor_name, consent.attributed_by) == ("kafe.test", "first-party")
