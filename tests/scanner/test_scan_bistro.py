"""A banner inside an iframe, answered by its German button texts."""

import pytest

from scanner import ScanOptions, ScanReport, scan_site
from tests.scanner.fakeweb import FakeWeb

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
async def report(web: FakeWeb) -> ScanReport:
    options = ScanOptions(
        start_url=web.url("www.bistro.test"), max_pages=2, settle=0.3, idle_timeout=2,
        consent_timeout=5, ignore_https_errors=True, browser_args=web.browser_args,
        passes=("accept", "reject"), use_sitemap=False,
    )
    return await scan_site(options)


def test_banner_in_an_iframe_is_answered(report: ScanReport) -> None:
    assert report.consent == {"accept": "text", "reject": "text"}
    passes = {i.name: i.passes for i in report.items if i.kind == "cookie"}
    assert passes["bistro_consent"] == ("accept", "reject")
    assert passes["_ga"] == ("accept",)
    assert not any(v.name == "_ga" for v in report.violations)
