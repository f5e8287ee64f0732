"""The consent log in a real Chromium: find a visitor's receipts by consent id, open one and
see the texts they were shown, download their history; export CSV and JSON Lines and read the
files back; the retention page. A viewer reads but does not export. Screenshots of each page,
desktop and mobile (to ``CMP_TEST_SCREENSHOTS`` when set)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from playwright.async_api import Browser, Page

from ..embed.servers import CmpServer
from ..factories import ORIGIN, PASSWORD, bulk_receipts, published_site, receipt_body

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "mobile": {"width": 390, "height": 844}}
REJECT = {"necessary": True, "preferences": False, "statistics": False, "marketing": False}


async def _data(server: CmpServer) -> dict[str, Any]:
    """A published site, a visitor with three receipts sent through the public API, others
    around them, and staff."""
    from cmp_server._utils import utcnow
    from cmp_server.services import staff

    async def make() -> tuple[str, int]:
        site, _ = await published_site("Kursgården")
        await staff.create_staff("privacy@kurs.example", PASSWORD, "privacy")
        await staff.create_staff("viewer@kurs.example", PASSWORD, "viewer")
        now = utcnow()
        await bulk_receipts(site, 80, at=now - timedelta(days=3), every=timedelta(minutes=7),
                            page_url="https://www.shop.example/kurser/keramik?utm_source=news")
        await bulk_receipts(site, 20, at=now - timedelta(days=9), every=timedelta(hours=1),
                            method="reject_all", choices=REJECT, language="sv")
        return site.key, site.id

    key, _ = await server.call(make())
    visitor = str(uuid.uuid4())
    sent = []
    base = f"http://127.0.0.1:{server.port}"
    async with httpx.AsyncClient(base_url=base) as http:
        for overrides in (
            {"language": "sv", "method": "custom"},
            {"language": "sv", "method": "withdraw", "choices": REJECT},
            {"language": "sv", "method": "accept_all",
             "choices": {k: True for k in REJECT}},
        ):
            body = receipt_body(consent_id=visitor, **overrides)
            r = await http.post(f"/v1/sites/{key}/consents", content=orjson.dumps(body),
                                headers={"Origin": ORIGIN, "Content-Type": "text/plain"})
            assert r.status_code == 201, r.text
            sent.append(body)
    return {"key": key, "visitor": visitor, "sent": sent, "base": base}


async def _sign_in(page: Page, base: str, email: str) -> None:
    await page.goto(f"{base}/admin/")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="Sites").wait_for()


async def _look(page: Page, shots: Path, name: str, viewport: dict[str, int]) -> None:
    await page.screenshot(path=shots / f"{name}.png", full_page=True)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], (name, width)


async def test_find_open_download_export_and_retention(
    server: CmpServer, browser: Browser, shots: Path
) -> None:
    data = await _data(server)
    base, key, visitor = data["base"], data["key"], data["visitor"]
    for name, viewport in VIEWPORTS.items():
        context = await browser.new_context(viewport=viewport, accept_downloads=True)  # type: ignore[arg-type]
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e, seen=errors: seen.append(str(e)))
        await _sign_in(page, base, "privacy@kurs.example")
        await page.goto(f"{base}/admin/sites/{key}/consents")
        await page.get_by_role("link", name="Consent log").wait_for()
        await _look(page, shots, f"consents-log-{name}", viewport)

        # Search by consent id: the visitor's three receipts, newest first.
        await page.get_by_label("Consent ID").fill(visitor)
        await page.get_by_role("button", name="Search").click()
        await page.get_by_role("status").wait_for()
        rows = page.locator("table.log tbody tr")
        assert await rows.count() == 3
        first_id = data["sent"][0]["receipt_id"]
        assert await rows.nth(2).get_by_role("link", name=first_id).count() == 1
        await _look(page, shots, f"consents-search-{name}", viewport)

        # Open the first receipt: it verifies, and shows the Swedish texts of version 1.
        await page.get_by_role("link", name=first_id).click()
        await page.get_by_role("heading", name="What the visitor saw").wait_for()
        proof = await page.locator("section.proof").inner_text()
        assert "Verifies" in proof and "Texts hash matches" in proof
        shown = await page.locator("section.shown").inner_text()
        assert "Ditt val om kakor" in shown and "Godkänn alla" in shown, shown[:400]
        await _look(page, shots, f"consents-receipt-{name}", viewport)

        # The visitor's whole history, downloaded as JSON.
        await page.get_by_role("link", name="The visitor's whole history").click()
        await page.get_by_role("button", name="Download as JSON").wait_for()
        assert "Every receipt verifies" in await page.get_by_role("status").inner_text()
        await _look(page, shots, f"consents-visitor-{name}", viewport)
        async with page.expect_download() as info:
            await page.get_by_role("button", name="Download as JSON").click()
        download = await info.value
        document = orjson.loads(Path(await download.path()).read_bytes())
        assert [r["receipt_id"] for r in document["receipts"]] == [
            s["receipt_id"] for s in data["sent"]
        ]
        assert document["texts_shown"][0]["texts"]["texts"]["title"] == "Ditt val om kakor"

        # Export: count first, then CSV and JSON Lines, read back.
        await page.goto(f"{base}/admin/sites/{key}/consents")
        await page.get_by_role("link", name="Export", exact=True).click()
        await page.get_by_label("Method").select_option("reject_all")
        await page.get_by_role("button", name="Count matching receipts").click()
        await page.get_by_role("heading", name="20 receipts match").wait_for()
        await _look(page, shots, f"consents-export-{name}", viewport)
        async with page.expect_download() as info:
            await page.get_by_role("button", name="Download").click()
        csv_file = Path(await (await info.value).path()).read_bytes()
        rows_back = list(csv.DictReader(io.StringIO(csv_file.decode("utf-8-sig"))))
        assert len(rows_back) == 20 and {r["method"] for r in rows_back} == {"reject_all"}
        await page.get_by_label("JSON Lines").check()
        async with page.expect_download() as info:
            await page.get_by_role("button", name="Download").click()
        lines = Path(await (await info.value).path()).read_bytes().splitlines()
        assert {orjson.loads(line)["receipt_id"] for line in lines} == {
            r["receipt_id"] for r in rows_back
        }

        await page.get_by_role("link", name="Retention").click()
        await page.get_by_role("heading", name="Purge log").wait_for()
        await _look(page, shots, f"consents-retention-{name}", viewport)
        assert errors == [], errors
        await context.close()

    # A viewer reads the log and the history, but has no export and no download.
    context = await browser.new_context()
    page = await context.new_page()
    await _sign_in(page, base, "viewer@kurs.example")
    await page.goto(f"{base}/admin/sites/{key}/visitors/{visitor}")
    await page.get_by_role("table").wait_for()
    assert await page.get_by_role("button", name="Download as JSON").count() == 0
    assert await page.get_by_role("link", name="Export", exact=True).count() == 0
    response = await page.goto(f"{base}/admin/sites/{key}/export")
    assert response is not None and response.status == 403
    await context.close()
