"""A scan of a hostile page in a real Chromium: the limits it reached are said at the top, and
every list is shown a page at a time, at 320, 768 and 1366 pixels wide, nothing wider than the
screen. Screenshots go to ``CMP_TEST_SCREENSHOTS`` when set."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser

from scanner import LimitHit, ScanLimits

from ..embed.servers import CmpServer
from ..factories import PASSWORD, published_site
from ..faults.test_hostile_scan import _hostile_report
from .test_browser_scans import sign_in

pytestmark = pytest.mark.browser

WIDTHS = (320, 768, 1366)


async def test_a_hostile_scan_page_shows_its_limits_and_a_page_of_each_list(
    server: CmpServer, browser: Browser, shots: Path
) -> None:
    from cmp_server.services import staff
    from cmp_server.services.scan_results import store_scan

    async def setup() -> tuple[str, int]:
        site, _ = await published_site("Hostile", ("127.0.0.1",))
        await staff.create_staff("viewer@shop.example", PASSWORD, "viewer")
        report = _hostile_report(1000)
        report = report.model_copy(update={"limits": (
            LimitHit(limit="storage_keys_per_origin", value=1000, left_out=8000,
                     pass_="none", where="127.0.0.1"),
            LimitHit(limit="value_chars", value=1000, left_out=52_311, pass_="none"),
        )})
        scan = await store_scan(site, report, limits=ScanLimits(items_per_pass=400))
        return site.key, scan.id

    key, scan_id = await server.call(setup())
    base = f"http://127.0.0.1:{server.port}"
    for width in WIDTHS:
        context = await browser.new_context(viewport={"width": width, "height": 900})
        page = await sign_in(context, base, "viewer@shop.example")
        await page.goto(f"{base}/admin/sites/{key}/scans/{scan_id}")
        limits = re.sub(r"\s+", " ", await page.locator("section.scan-limits").inner_text())
        assert "8,000 names left out" in limits and "127.0.0.1" in limits
        assert "800 items left out" in limits  # 2,000 items, 400 a pass kept
        rows = await page.locator("section[aria-labelledby=items] tbody tr").count()
        assert rows == 50
        await page.screenshot(path=shots / f"scan-limits-{width}.png", full_page=False)
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
        items = page.locator("section[aria-labelledby=items]")
        assert "Page 1 of 24" in await items.inner_text()
        await items.get_by_role("link", name="Next").click()
        await page.wait_for_url(re.compile(r"items=2#items$"))
        assert "Page 2 of 24" in await page.locator(
            "section[aria-labelledby=items]").inner_text()
        await page.locator("#items").scroll_into_view_if_needed()
        await page.screenshot(path=shots / f"scan-items-page-{width}.png", full_page=False)
        pager = page.locator("section[aria-labelledby=items] nav.pager")
        await pager.scroll_into_view_if_needed()
        await page.screenshot(path=shots / f"scan-items-pager-{width}.png", full_page=False)
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
        await context.close()
