"""A scan's page in a real Chromium, desktop and mobile: the automatic blocking summary ("N
resources blocked until consent, M still fired before consent"), what waited, and the rule
behind each finding; nothing wider than the screen. Screenshots go to
``CMP_TEST_SCREENSHOTS`` when set (scan-blocking-*.png)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser

from ..embed.servers import CmpServer
from ..factories import PASSWORD, published_site
from ..test_scan_blocking import _with_rules, tagged_report
from .test_browser_scans import VIEWPORTS, sign_in, text_of

pytestmark = pytest.mark.browser

PAYLOAD = '<img src=x onerror="window.pwned=1">'


async def test_the_scan_page_says_what_waited_and_what_fired(
    server: CmpServer, browser: Browser, shots: Path
) -> None:
    from cmp_server.services import staff
    from cmp_server.services.scan_results import store_scan
    from scanner import HeldResource

    async def setup() -> tuple[str, int]:
        site, _ = await published_site("Blocking shop")
        await staff.create_staff("viewer@shop.example", PASSWORD, "viewer")
        await _with_rules(site)
        report = tagged_report()
        # A page controls what its banner lists: a URL that is markup stays text.
        hostile = HeldResource.model_validate({
            "pass": "none", "page_url": "https://shop.example/", "type": "img",
            "url": "https://x.example/" + PAYLOAD, "purposes": ["marketing"],
            "rule_host": "x.example", "rule_path": "", "state": "held"})
        report = report.model_copy(
            update={"consent_blocking": (*report.consent_blocking, hostile)})
        return site.key, (await store_scan(site, report)).id

    key, scan_id = await server.call(setup())
    base = f"http://127.0.0.1:{server.port}"
    for viewport in ("desktop", "mobile"):
        context = await browser.new_context(viewport=VIEWPORTS[viewport])  # type: ignore[arg-type]
        page = await sign_in(context, base, "viewer@shop.example")
        await page.goto(f"{base}/admin/sites/{key}/scans/{scan_id}")
        summary = await text_of(page, ".proof-line")
        assert summary == "4 resources blocked until consent, 3 still fired before consent"
        waited = await text_of(page, "#waited + .table-wrap")
        assert "connect.facebook.net/en_US/fbevents.js" in waited and "released" in waited
        assert "No choice, Reject all" in waited
        violations = await text_of(page, "section[aria-labelledby=violations]")
        assert ("Rule connect.facebook.net (marketing) matched, yet it fired"
                in violations)
        assert "No rule matches this request: add a rule" in violations
        assert "Not known what set it" in violations
        assert await page.evaluate("window.pwned") is None
        await page.screenshot(path=shots / f"scan-blocking-{viewport}.png", full_page=True)
        await page.locator("section.blocking-proof").screenshot(
            path=shots / f"scan-blocking-summary-{viewport}.png")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= VIEWPORTS[viewport]["width"], (viewport, width)
        await context.close()
