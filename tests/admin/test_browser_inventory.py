"""The cookie inventory in a real Chromium, without JavaScript: an unreviewed item a scan
found is mapped to a purpose with a bulk action, one item is edited; screenshots of the list,
an item and a vendor, desktop and mobile (to ``CMP_TEST_SCREENSHOTS`` when set)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page

from scanner import ReportItem, ScanReport

from ..embed.servers import CmpServer
from ..factories import PASSWORD

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "mobile": {"width": 390, "height": 844}}
PAYLOAD = '<img src=x onerror="window.pwned=1">'


def found(name: str, category: str, vendor: str | None, passes: tuple[str, ...],
          **kw: Any) -> ReportItem:
    fields: dict[str, Any] = {
        "kind": "cookie", "name": name, "domain": ".kursgarden.example", "path": "/",
        "party": "first", "vendor": vendor, "category": category, "passes": passes,
        "first_seen_url": "https://kursgarden.example/", "set_by": "script",
        "initiator": None, "expires_days": 399.5, "http_only": False, "secure": True,
        "same_site": "Lax", "vendor_name": None, "kb_duration_days": None,
    }
    fields.update(kw)
    return ReportItem.model_validate(fields)


async def make_site(server: CmpServer) -> dict[str, str]:
    from cmp_server.models import InventoryItem, Staff, Vendor
    from cmp_server.services import inventory, sites, staff
    from cmp_server.services.scan_results import store_scan

    async def make() -> dict[str, str]:
        site = await sites.create_site("Kursgården", ["kursgarden.example"], force=True,
                                       languages=["sv", "en"], default_language="sv")
        if not await Staff.exists(email="privacy@kursgarden.example"):
            await staff.create_staff("privacy@kursgarden.example", PASSWORD, "privacy")
        await inventory.add_vendor(site, key="hotjar", name="Hotjar", country="MT",
                                   privacy_policy_url="https://www.hotjar.com/privacy",
                                   transfers_outside_eea=True,
                                   transfer_basis="Standard contractual clauses")
        await inventory.add_item(site, name="kg_session", purpose="necessary",
                                 description={"sv": "Håller dig inloggad.",
                                              "en": "Keeps you signed in."})
        await inventory.add_item(site, name=PAYLOAD, purpose="preferences", vendor="hotjar",
                                 duration_days=30, review_status="unreviewed")
        now = datetime.now(UTC)
        await store_scan(site, ScanReport(
            start_url="https://kursgarden.example/", started_at=now, finished_at=now,
            pages=(), requests=(), violations=(), review=(), items=(
                found("_ga", "statistics", "google-analytics", ("none", "accept"),
                      vendor_name="Google Analytics", kb_duration_days=730.0,
                      description="Tells visitors apart for statistics."),
                found("_fbp", "marketing", "meta", ("accept",), vendor_name="Meta Pixel",
                      kb_duration_days=90.0, description="Ads across sites."),
                found("ab_variant", "unclassified", None, ("none", "reject", "accept")),
                found("kg_session", "unclassified", None, ("none", "accept")),
                found("_hjSessionUser_123", "statistics", "hotjar", ("accept",),
                      vendor_name="Hotjar", party="third", domain=".hotjar.com",
                      kb_duration_days=365.0),
            )))
        ab = await InventoryItem.get(site=site, name="ab_variant")
        fbp = await InventoryItem.get(site=site, name="_fbp")
        hotjar = await Vendor.get(site=site, key="hotjar")
        return {"key": site.key, "ab": str(ab.id), "fbp": str(fbp.id),
                "hotjar": str(hotjar.id)}

    return await server.call(make())


async def sign_in(page: Page, base: str) -> None:
    await page.goto(f"{base}/admin/")
    await page.get_by_label("Email").fill("privacy@kursgarden.example")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="Sites").wait_for()


async def fits(page: Page, width: int, what: str) -> None:
    """Nothing overflows the viewport sideways."""
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, (what, scroll)


async def test_map_with_a_bulk_action_and_edit_one_item_without_javascript(
    server: CmpServer, browser: Browser, shots: Path
) -> None:
    from cmp_server.models import InventoryItem

    ids = await make_site(server)
    key, base = ids["key"], f"http://127.0.0.1:{server.port}"
    context = await browser.new_context(viewport=VIEWPORTS["desktop"],  # type: ignore[arg-type]
                                        java_script_enabled=False)
    page = await context.new_page()
    await sign_in(page, base)
    await page.get_by_role("link", name="Kursgården").first.click()
    await page.get_by_role("link", name="Cookies").click()
    await page.get_by_role("link", name="Unreviewed").click()
    await page.get_by_role("link", name="Name (sorted ascending)").wait_for()
    assert await page.get_by_text("classify: seen before consent").count() == 1  # ab_variant
    assert await page.get_by_text("violation", exact=True).count() == 1  # _ga, before consent

    # Tick the item nobody has classified, set its purpose: it leaves the unreviewed list.
    await page.get_by_label("Tick ab_variant").check()
    await page.get_by_label("Action").select_option("set_purpose")
    await page.locator("#f-to_purpose").select_option("statistics")
    await page.get_by_role("button", name="Apply").click()
    await page.get_by_text("1 item: purpose set, and marked reviewed.").wait_for()
    assert parse_qs(urlsplit(page.url).query)["status"] == ["unreviewed"]  # filters kept
    assert await page.get_by_label("Tick ab_variant").count() == 0

    async def ab() -> tuple[Any, ...]:
        row = await InventoryItem.get(id=int(ids["ab"])).select_related("purpose")
        return (row.purpose.key if row.purpose else None, row.review_status)

    assert await server.call(ab()) == ("statistics", "reviewed")

    # A bulk action with nothing ticked comes back with the reason, the list as it was.
    await page.get_by_role("button", name="Apply").click()
    await page.get_by_text("tick one or more rows first").wait_for()

    # Edit one item: its duration, vendor and descriptions; the KB's suggestion beside it.
    await page.goto(f"{base}/admin/sites/{key}/inventory")
    await page.get_by_role("link", name="_fbp").click()
    await page.get_by_role("heading", name="The knowledge base suggested").wait_for()
    assert "Meta Pixel" in await page.locator(".kb").inner_text()
    await page.get_by_label("Duration in days").fill("-5")
    await page.get_by_role("button", name="Save").click()
    await page.locator("#e-duration_days").wait_for()  # refused beside the field
    await page.get_by_label("Duration in days").fill("90")
    await page.get_by_label("Vendor").select_option(label="Hotjar")
    await page.get_by_label("In sv").fill("Annonser på andra webbplatser.")
    await page.get_by_label("In en").fill("Ads on other sites.")
    await page.get_by_label("Review").select_option("reviewed")
    await page.get_by_role("button", name="Save").click()
    await page.get_by_text("Saved.").wait_for()
    assert await page.get_by_text("duration_days:").count() == 1  # the change history

    async def fbp() -> tuple[Any, ...]:
        row = await InventoryItem.get(id=int(ids["fbp"])).select_related("vendor")
        return (row.duration_days, row.vendor.key if row.vendor else None, row.description,
                row.review_status)

    assert await server.call(fbp()) == (90, "hotjar", {
        "sv": "Annonser på andra webbplatser.", "en": "Ads on other sites."}, "reviewed")
    await context.close()


async def test_screenshots_of_the_list_an_item_and_a_vendor(
    server: CmpServer, browser: Browser, shots: Path
) -> None:
    ids = await make_site(server)
    key, base = ids["key"], f"http://127.0.0.1:{server.port}"
    for name, viewport in VIEWPORTS.items():
        context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
        page = await context.new_page()
        errors: list[str] = []

        def script_error(error: Any, seen: list[str] = errors) -> None:
            seen.append(str(error))

        def console_error(message: ConsoleMessage, seen: list[str] = errors) -> None:
            if message.type == "error":  # a CSP violation, a failed load
                seen.append(message.text)

        page.on("pageerror", script_error)
        page.on("console", console_error)
        await sign_in(page, base)
        await page.goto(f"{base}/admin/sites/{key}/inventory")
        await page.get_by_role("heading", name="Cookies and storage").wait_for()
        assert await page.evaluate("window.pwned") is None
        assert await page.get_by_text(PAYLOAD).count() >= 1  # the name, as text
        await fits(page, viewport["width"], "inventory")
        await page.screenshot(path=shots / f"admin-inventory-{name}.png", full_page=True)
        await page.goto(f"{base}/admin/sites/{key}/inventory/{ids['fbp']}")
        await page.get_by_role("heading", name="The knowledge base suggested").wait_for()
        await fits(page, viewport["width"], "item")
        await page.screenshot(path=shots / f"admin-item-{name}.png", full_page=True)
        await page.goto(f"{base}/admin/sites/{key}/vendors/{ids['hotjar']}")
        await page.get_by_role("heading", name="Transfers data outside the EU/EEA").or_(
            page.get_by_text("Transfers data outside the EU/EEA")).first.wait_for()
        await fits(page, viewport["width"], "vendor")
        await page.screenshot(path=shots / f"admin-vendor-{name}.png", full_page=True)
        await page.goto(f"{base}/admin/sites/{key}/vendors")
        await fits(page, viewport["width"], "vendors")
        await page.screenshot(path=shots / f"admin-vendors-{name}.png", full_page=True)
        assert errors == [], errors
        await context.close()
