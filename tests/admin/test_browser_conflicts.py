"""No lost update in a real Chromium: two pages of one browser are two tabs on the same
banner texts and on the same inventory item. The second save is refused and says what
changed meanwhile; staff take theirs or keep their own, knowingly. On a desktop and at
320×568, the item with JavaScript off; screenshots of the conflict pages at 320, 768 and
1366 px (to ``CMP_TEST_SCREENSHOTS`` when set)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page

from ..embed.servers import CmpServer
from ..factories import PASSWORD

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 320, "height": 568}}
SHOTS = {"320": {"width": 320, "height": 568}, "768": {"width": 768, "height": 1024},
         "1366": {"width": 1366, "height": 900}}
PAYLOAD = '<img src=x onerror="window.pwned=1">'
DESCRIPTION = ("Vi använder kakor för att webbplatsen ska fungera och, om du vill, för "
               "statistik och marknadsföring. Du kan ändra dig när som helst.")


async def make_site(server: CmpServer) -> dict[str, str]:
    from cmp_server.models import InventoryItem, Staff
    from cmp_server.services import inventory, sites, staff

    async def make() -> dict[str, str]:
        site = await sites.create_site("Kursgården", ["kursgarden.example"], force=True,
                                       languages=["sv", "en"], default_language="sv")
        if not await Staff.exists(email="privacy@kursgarden.example"):
            await staff.create_staff("privacy@kursgarden.example", PASSWORD, "privacy")
        await inventory.add_item(site, name="kg_session", purpose="necessary",
                                 duration_days=1, description={"sv": "Håller dig inloggad."})
        item = await InventoryItem.get(site=site, name="kg_session")
        return {"key": site.key, "item": str(item.id)}

    return await server.call(make())


async def stored(server: CmpServer, ids: dict[str, str]) -> dict[str, Any]:
    from cmp_server.models import InventoryItem, Site

    async def read() -> dict[str, Any]:
        site = await Site.get(key=ids["key"])
        item = await InventoryItem.get(id=int(ids["item"])).select_related("purpose")
        return {"sv": site.texts.get("sv", {}), "purpose": item.purpose.key if item.purpose
                else None, "duration": item.duration_days}

    return await server.call(read())


async def signed_in(browser: Browser, base: str, viewport: dict[str, int], *,
                    javascript: bool = True) -> tuple[BrowserContext, Page, Page, list[str]]:
    """One browser signed in, and two tabs of it; script errors are collected."""
    context = await browser.new_context(viewport=viewport,  # type: ignore[arg-type]
                                        java_script_enabled=javascript)
    errors: list[str] = []

    def script_error(error: Any) -> None:
        errors.append(str(error))

    def console_error(message: ConsoleMessage) -> None:
        # The refused save's own page answers 409, which the console notes as a failed load.
        if message.type == "error" and "status of 409" not in message.text:
            errors.append(message.text)

    context.on("weberror", lambda e: errors.append(str(e.error)))
    first = await context.new_page()
    first.on("pageerror", script_error)
    first.on("console", console_error)
    await first.goto(f"{base}/admin/")
    await first.get_by_label("Email").fill("privacy@kursgarden.example")
    await first.get_by_label("Password").fill(PASSWORD)
    await first.get_by_role("button", name="Sign in").click()
    await first.get_by_role("heading", name="Sites").wait_for()
    second = await context.new_page()
    second.on("pageerror", script_error)
    return context, first, second, errors


async def fits(page: Page, width: int, what: str) -> None:
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, (what, scroll)


async def texts_conflict(base: str, key: str, tab_a: Page, tab_b: Page) -> None:
    """Both tabs open the Swedish texts; B saves a title, A then a description."""
    editor = f"{base}/admin/sites/{key}/banner?lang=sv"
    await tab_a.goto(editor)
    await tab_b.goto(editor)
    await tab_b.locator("#f-text-title").fill(f"Kakor hos Kursgården {PAYLOAD}")
    await tab_b.get_by_role("button", name="Save the sv texts").click()
    await tab_b.get_by_text("The sv texts are saved in the draft").wait_for()
    await tab_a.locator("#f-text-description").fill(DESCRIPTION)
    await tab_a.get_by_role("button", name="Save the sv texts").click()
    await tab_a.get_by_role(
        "heading", name="Not saved: someone changed the sv texts while you were editing"
    ).wait_for()


async def item_conflict(base: str, ids: dict[str, str], tab_a: Page, tab_b: Page) -> None:
    """Both tabs open the item; B changes its purpose, A then its duration."""
    url = f"{base}/admin/sites/{ids['key']}/inventory/{ids['item']}"
    await tab_a.goto(url)
    await tab_b.goto(url)
    await tab_b.get_by_label("Purpose").select_option("preferences")
    await tab_b.get_by_role("button", name="Save", exact=True).click()
    await tab_b.get_by_text("Saved.").wait_for()
    await tab_a.get_by_label("Duration in days").fill("30")
    await tab_a.get_by_role("button", name="Save", exact=True).click()
    await tab_a.get_by_role(
        "heading", name="Not saved: someone changed this item while you were editing"
    ).wait_for()


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_two_tabs_on_the_texts(
    server: CmpServer, browser: Browser, viewport: str
) -> None:
    ids = await make_site(server)
    base, size = f"http://127.0.0.1:{server.port}", VIEWPORTS[viewport]
    context, tab_a, tab_b, errors = await signed_in(browser, base, size)
    await texts_conflict(base, ids["key"], tab_a, tab_b)
    card = tab_a.locator(".conflict")
    text = await card.inner_text()
    assert "privacy@kursgarden.example" in text and "texts.title" in text
    assert f"Kakor hos Kursgården {PAYLOAD}" in text  # B's title, as text
    assert await tab_a.evaluate("window.pwned") is None
    assert await tab_a.locator("#f-text-description").input_value() == DESCRIPTION  # kept
    assert (await stored(server, ids))["sv"]["title"] == f"Kakor hos Kursgården {PAYLOAD}"
    await fits(tab_a, size["width"], "texts conflict")
    if viewport == "desktop":
        # Take theirs: the page afresh shows B's title; A types the description again.
        await card.get_by_role("link", name="Take theirs").click()
        assert await tab_a.locator("#f-text-title").input_value() == (
            f"Kakor hos Kursgården {PAYLOAD}")
        await tab_a.locator("#f-text-description").fill(DESCRIPTION)
        await tab_a.get_by_role("button", name="Save the sv texts").click()
        await tab_a.get_by_text("The sv texts are saved in the draft").wait_for()
        sv = (await stored(server, ids))["sv"]
        assert (sv["title"], sv["description"]) == (f"Kakor hos Kursgården {PAYLOAD}",
                                                    DESCRIPTION)  # both kept
    else:
        # Keep mine, knowingly: A's whole form over B's change.
        await card.get_by_role("button", name="Save mine over theirs").click()
        await tab_a.get_by_text("The sv texts are saved in the draft").wait_for()
        sv = (await stored(server, ids))["sv"]
        assert sv["description"] == DESCRIPTION and sv["title"] != (
            f"Kakor hos Kursgården {PAYLOAD}")
    assert errors == [], errors
    await context.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_two_tabs_on_an_item_without_javascript(
    server: CmpServer, browser: Browser, viewport: str
) -> None:
    ids = await make_site(server)
    base, size = f"http://127.0.0.1:{server.port}", VIEWPORTS[viewport]
    context, tab_a, tab_b, errors = await signed_in(browser, base, size, javascript=False)
    await item_conflict(base, ids, tab_a, tab_b)
    card = tab_a.locator(".conflict")
    text = await card.inner_text()
    assert "purpose: necessary → preferences" in text
    assert "Saved now: preferences" in text and "Yours: necessary" in text
    assert await tab_a.get_by_label("Duration in days").input_value() == "30"
    assert await stored(server, ids) | {"sv": None} == {
        "sv": None, "purpose": "preferences", "duration": 1}
    await fits(tab_a, size["width"], "item conflict")
    # Take theirs for the purpose, keep the duration: both saved.
    await tab_a.get_by_label("Purpose").select_option("preferences")
    await card.get_by_role("button", name="Save mine over theirs").click()
    await tab_a.get_by_text("Saved.").wait_for()
    assert await stored(server, ids) | {"sv": None} == {
        "sv": None, "purpose": "preferences", "duration": 30}
    assert errors == [], errors
    await context.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_two_tabs_on_the_appearance(
    server: CmpServer, browser: Browser, viewport: str, shots: Path
) -> None:
    """B makes the banner a centred dialog; A, from the page read before, rounds its
    corners: refused, with B's layout named, A's radius kept in the form and the live
    preview still following the form."""
    from cmp_server.models import Site

    ids = await make_site(server)
    base, size = f"http://127.0.0.1:{server.port}", VIEWPORTS[viewport]
    context, tab_a, tab_b, errors = await signed_in(browser, base, size)
    url = f"{base}/admin/sites/{ids['key']}/appearance"
    await tab_a.goto(url)
    await tab_b.goto(url)
    await tab_b.get_by_label("Centred dialog").check()
    await tab_b.get_by_role("button", name="Save the appearance").click()
    await tab_b.get_by_text("The appearance is saved in the draft").wait_for()
    await tab_a.get_by_label("Corner radius (pixels, 0 to 24)").fill("12")
    await tab_a.get_by_role("button", name="Save the appearance").click()
    await tab_a.get_by_role(
        "heading", name="Not saved: someone changed the banner's appearance while you were "
        "editing").wait_for()
    card = tab_a.locator(".conflict")
    text = await card.inner_text()
    assert "privacy@kursgarden.example" in text and "layout: corner → dialog" in text
    assert re.search(r"Saved now:\s*dialog\s*Yours:\s*corner", text), text
    assert await tab_a.get_by_label("Corner radius (pixels, 0 to 24)").input_value() == "12"
    await fits(tab_a, size["width"], "appearance conflict")
    await tab_a.screenshot(path=shots / f"admin-conflict-appearance-{viewport}.png",
                           full_page=True)

    async def look() -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            return dict((await Site.get(key=ids["key"])).appearance or {})
        return await server.call(read())

    assert ((await look())["layout"], (await look())["radius"]) == ("dialog", 8)
    # Take B's layout in the form, keep the radius: both saved.
    await tab_a.get_by_label("Centred dialog").check()
    await card.get_by_role("button", name="Save mine over theirs").click()
    await tab_a.get_by_text("The appearance is saved in the draft").wait_for()
    assert ((await look())["layout"], (await look())["radius"]) == ("dialog", 12)
    assert errors == [], errors
    await context.close()


async def test_screenshots_of_the_conflict_pages(
    server: CmpServer, browser: Browser, shots: Path
) -> None:
    for width, size in SHOTS.items():
        ids = await make_site(server)
        base = f"http://127.0.0.1:{server.port}"
        context, tab_a, tab_b, errors = await signed_in(browser, base, size)
        listed = await context.new_page()  # a third tab, on the list before the changes
        await listed.goto(f"{base}/admin/sites/{ids['key']}/inventory")
        await texts_conflict(base, ids["key"], tab_a, tab_b)
        await fits(tab_a, size["width"], f"texts conflict {width}")
        await tab_a.locator(".conflict").scroll_into_view_if_needed()
        await tab_a.screenshot(path=shots / f"admin-conflict-texts-{width}.png",
                               full_page=True)
        await tab_a.locator(".conflict").screenshot(
            path=shots / f"admin-conflict-texts-card-{width}.png")
        await item_conflict(base, ids, tab_a, tab_b)
        await fits(tab_a, size["width"], f"item conflict {width}")
        await tab_a.screenshot(path=shots / f"admin-conflict-item-{width}.png",
                               full_page=True)
        await tab_a.screenshot(path=shots / f"admin-conflict-item-top-{width}.png")
        # The bulk action from the list loaded before the item changed: refused whole.
        await listed.get_by_label("Tick kg_session").check()
        await listed.get_by_label("Action").select_option("mark_gone")
        await listed.get_by_role("button", name="Apply", exact=True).click()
        await listed.get_by_role("heading", name=re.compile("1 of the rows ticked was changed")
                                 ).wait_for()
        await fits(listed, size["width"], f"bulk conflict {width}")
        await listed.screenshot(path=shots / f"admin-conflict-bulk-{width}.png", full_page=True)
        await listed.locator(".conflict").screenshot(
            path=shots / f"admin-conflict-bulk-card-{width}.png")
        assert (await stored(server, ids))["purpose"] == "preferences"
        assert errors == [], errors
        await context.close()
