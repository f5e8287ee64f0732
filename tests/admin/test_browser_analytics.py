"""The consent-rate page in a real Chromium: receipts posted through the public API show in the
chart's table and in the SVG's bars, by day and by week; screenshots, desktop and mobile (to
``CMP_TEST_SCREENSHOTS`` when set)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from playwright.async_api import Browser, Page

from ..embed.servers import CmpServer
from ..factories import ORIGIN, PASSWORD, published_site, receipt_body

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "mobile": {"width": 390, "height": 844}}
ALL = {"necessary": True, "preferences": True, "statistics": True, "marketing": True}
NONE = {"necessary": True, "preferences": False, "statistics": False, "marketing": False}
SOME = {"necessary": True, "preferences": False, "statistics": True, "marketing": False}
# Today, through the public API: (method, choices, how many).
POSTED = [("accept_all", ALL, 5), ("reject_all", NONE, 3), ("custom", SOME, 2), ("gpc", SOME, 1)]


async def _earlier_days(site_id: int) -> None:
    """Two weeks of earlier receipts, for a chart with some shape (counted by a recount: the
    writer counts only what it writes, and it writes only today's)."""
    from cmp_server.models import ConsentReceipt, Site
    from cmp_server.services import counters

    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    rows = []
    for back in range(1, 15):
        at = today - timedelta(days=back)
        for method, choices, n in (("accept_all", ALL, 3 + back % 4), ("reject_all", NONE, 2),
                                   ("custom", SOME, back % 3), ("withdraw", NONE, back % 2)):
            rows += [ConsentReceipt(
                receipt_id=uuid.uuid4(), consent_id=uuid.uuid4(), site_id=site_id,
                config_version=1, texts_hash="t" * 64, language="en", choices=choices,
                method=method, layer="first", page_url="https://www.shop.example/",
                recorded_at=at, expires_at=at + timedelta(days=180), user_agent="ua",
                ip_truncated=None, content_hash="c" * 64, record_hash="r" * 64,
            ) for _ in range(n)]
    await ConsentReceipt.bulk_create(rows)
    await counters.recount(await Site.get(id=site_id))


async def _set_up(server: CmpServer) -> str:
    from cmp_server.services import staff

    async def make() -> str:
        site, _ = await published_site("Kurshuset", ("shop.example",))
        await staff.create_staff("viewer@kurshuset.example", PASSWORD, "viewer")
        await _earlier_days(site.id)
        return site.key

    key = await server.call(make())
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
        for method, choices, n in POSTED:
            for _ in range(n):
                r = await client.post(
                    f"/v1/sites/{key}/consents",
                    content=orjson.dumps(receipt_body(method=method, choices=choices)),
                    headers={"Origin": ORIGIN, "Content-Type": "text/plain"},
                )
                assert r.status_code == 201, r.text
    return key


async def _sign_in(page: Page, base: str) -> None:
    await page.goto(f"{base}/admin/")
    await page.get_by_label("Email").fill("viewer@kurshuset.example")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="Sites").wait_for()


async def _cells(page: Page, table: str, row: str) -> list[str]:
    cells = page.locator(f"#{table} tr").filter(has=page.get_by_role("rowheader", name=row))
    return [" ".join(t.split()) for t in await cells.locator("td").all_inner_texts()]


async def test_the_chart_shows_the_receipts_posted_through_the_api(
    server: CmpServer, browser: Browser, shots: Path
) -> None:
    key = await _set_up(server)
    base = f"http://127.0.0.1:{server.port}"
    today = datetime.now(UTC).date()
    posted = {method: n for method, _, n in POSTED}
    for name, viewport in VIEWPORTS.items():
        context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
        page = await context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda e, seen=problems: seen.append(str(e)))
        page.on("console", lambda m, seen=problems: seen.append(m.text)
                if m.type == "error" else None)
        await _sign_in(page, base)
        await page.goto(f"{base}/admin/sites/{key}")
        await page.get_by_role("link", name="Consent rates").click()
        await page.get_by_role("heading", name="Outcomes per day").wait_for()
        assert await page.get_by_role("link", name="Consent rates").get_attribute(
            "aria-current") == "page"

        # The table: today's row holds what the test posted.
        assert await _cells(page, "outcomes-table", today.isoformat()) == [
            str(posted["accept_all"]), str(posted["reject_all"]), str(posted["custom"]), "0",
            str(posted["gpc"]), str(sum(posted.values()))]
        # The chart: an image named by its title, with today's bar made of one titled
        # segment per method, tallest for the method with the most receipts.
        chart = page.get_by_role("img", name="Consent outcomes per day, Kurshuset")
        await chart.wait_for()
        assert await chart.is_visible()
        label = f"{today:%a} {today.isoformat()}"
        bars = await chart.locator("rect").evaluate_all(
            "rects => rects.map(r => [r.querySelector('title')?.textContent ?? '',"
            " r.getBoundingClientRect().height])")
        ours = [(title, height) for title, height in bars if title.startswith(f"{label}: ")]
        assert [title for title, _ in ours] == [
            f"{label}: Accept all 5", f"{label}: Reject all 3", f"{label}: Custom 2",
            f"{label}: GPC 1"]
        heights = [height for _, height in ours]
        assert heights[0] > heights[1] > heights[2] > heights[3] > 0  # drawn to scale
        # Legend: every method by name.
        legend = await page.get_by_role("list", name="Legend").inner_text()
        assert legend.split() == ["Accept", "all", "Reject", "all", "Custom", "Withdraw", "GPC"]
        # Purposes: today's statistics rate (accept 5, custom 2 and GPC 1 granted it, of 11).
        assert (await _cells(page, "rates-table", today.isoformat()))[1] == "72.7 % 8 of 11"
        await page.screenshot(path=shots / f"admin-analytics-{name}.png", full_page=True)
        # Nothing wider than the screen: the chart and the tables scroll in their own boxes.
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], (name, width)

        # By week, through the form.
        await page.get_by_label("By").select_option("week")
        await page.get_by_role("button", name="Show").click()
        await page.get_by_role("heading", name="Outcomes per week").wait_for()
        monday = today - timedelta(days=today.weekday())
        week = await _cells(page, "outcomes-table", f"{monday.isoformat()} – {today.isoformat()}")
        assert int(week[0]) >= posted["accept_all"] and int(week[-1]) >= sum(posted.values())
        if name == "desktop":
            await page.screenshot(path=shots / f"admin-analytics-week-{name}.png",
                                  full_page=True)
        assert problems == [], problems
        await context.close()
