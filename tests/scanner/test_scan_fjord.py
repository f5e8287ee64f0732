"""Refusing through a banner's second layer (Settings, then Save with nothing ticked)."""

import pytest

from scanner import ScanOptions, ScanReport, scan_site
from tests.scanner.fakeweb import FakeWeb

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
async def report(web: FakeWeb) -> ScanReport:
    options = ScanOptions(
        start_url=web.url("www.fjord.test"), max_pages=1, settle=0.3, idle_timeout=2,
        consent_timeout=5, ignore_https_errors=True, browser_args=web.browser_args,
        passes=("accept", "reject"), use_sitemap=False,
    )
    return await scan_site(options)


def test_reject_through_the_settings_layer(report: ScanReport) -> None:
    assert report.consent == {"accept": "text", "reject": "text"}
    passes = {i.name: i.passes for i in report.items if i.kind == "cookie"}
    assert passes["fjord_consent"] == ("accept", "reject")
    assert passes["_ga"] == ("accept",)
    assert report.violations == ()
    # The site's own banner cookie, set by its inline script: the site's, for review.
    assert [(v.pass_, v.name, v.vendor) for v in report.review] == [
        ("reject", "fjord_consent", "fjord.test")]
