"""Scan schedules in a real Chromium, at 1366 and 320 pixels wide: a privacy officer adds one
from the scans page (a mistake first, said beside its field), finds it listed with its next
run, and opens it again to change it. Nothing wider than the screen. Screenshots go to
``CMP_TEST_SCREENSHOTS`` when set."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser

from ..embed.servers import CmpServer
from ..factories import PASSWORD, published_site
from .test_browser_scans import sign_in

pytestmark = pytest.mark.browser

WIDTHS = (1366, 320)


SERVER_SETTINGS = {"allow_private_scan_targets": True}


async def test_add_a_schedule_see_it_listed_and_change_it(
    server: CmpServer, browser: Browser, shots: Path
) -> None:
    from cmp_server.services import staff

    async def setup() -> str:
        site, _ = await published_site("Fixture shop", ("127.0.0.1", "localhost"))
        await staff.create_staff("privacy@shop.example", PASSWORD, "privacy")
        return site.key

    key = await server.call(setup())
    base = f"http://127.0.0.1:{server.port}"
    errors: list[str] = []
    for n, width in enumerate(WIDTHS):
        context = await browser.new_context(viewport={"width": width, "height": 900})
        page = await sign_in(context, base, "privacy@shop.example")
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{base}/admin/sites/{key}/scans")
        await page.get_by_role("link", name="Add a schedule").click()
        await page.get_by_role("heading", name="Add a schedule").wait_for()
        await page.get_by_label("Start URL").fill(f"http://127.0.0.1:9/shop{n}")
        await page.get_by_label("Also crawl these pages").fill(
            "http://127.0.0.1:9/checkout\nhttps://elsewhere.example/landing")
        await page.get_by_label("Page budget").fill("20")
        await page.get_by_role("checkbox", name=re.compile("Accept all")).uncheck()
        await page.get_by_label("Runs").select_option("weekly")
        await page.get_by_label("At (UTC)").fill("04:30")
        await page.get_by_label("Weekday").select_option("Friday")
        await page.get_by_role("button", name="Add schedule").click()
        # The page on another domain is refused, beside its field; what was typed stays.
        error = page.locator("#e-extra_urls")
        await error.wait_for()
        assert "not on the site's domains" in await error.inner_text()
        assert await page.get_by_label("Start URL").input_value() == (
            f"http://127.0.0.1:9/shop{n}")
        await page.screenshot(path=shots / f"schedule-refused-{width}.png", full_page=True)
        assert await page.evaluate("document.documentElement.scrollWidth") <= width

        await page.get_by_label("Also crawl these pages").fill(
            "http://127.0.0.1:9/checkout\nhttp://localhost:9/landing")
        await page.get_by_role("checkbox", name=re.compile("Every domain")).check()
        await page.get_by_role("button", name="Add schedule").click()
        await page.wait_for_url(re.compile(r"/scans#schedules$"))
        listed = page.locator("#schedules")
        text = re.sub(r"\s+", " ", await listed.inner_text())
        assert "Weekly on Friday at 04:30 UTC" in text and "Next: 20" in text
        assert f"http://127.0.0.1:9/shop{n} and 4 more pages (every domain)" in text
        assert "Up to 20 pages · No choice, Reject all" in text
        await page.screenshot(path=shots / f"schedules-listed-{width}.png", full_page=True)
        assert await page.evaluate("document.documentElement.scrollWidth") <= width

        await listed.get_by_role("link", name="Weekly on Friday at 04:30 UTC").last.click()
        await page.get_by_role("heading", name="Weekly on Friday at 04:30 UTC").wait_for()
        await page.get_by_label("Runs").select_option("monthly")
        await page.get_by_label("Day (monthly)").fill("15")
        await page.get_by_role("button", name="Save").click()
        await page.wait_for_url(re.compile(r"/scans#schedules$"))
        assert "Monthly on day 15 at 04:30 UTC" in await listed.inner_text()
        await listed.get_by_role("link", name="Monthly on day 15 at 04:30 UTC").last.click()
        await page.screenshot(path=shots / f"schedule-edit-{width}.png", full_page=True)
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
        assert errors == [], errors
        await context.close()
