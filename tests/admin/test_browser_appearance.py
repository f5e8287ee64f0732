"""The appearance editor in real Chromium, on a desktop and on a 320×568 phone: the preview
beside the form follows it as staff change fields (nothing saved), the contrast and button
checks follow too, saving keeps the look; without JavaScript the form still saves. axe-core
finds nothing on the editor; screenshots at 320, 768 and 1366 px."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, FrameLocator, Page

from cmp_server.models import Site
from cmp_server.services import appearance, staff

from ..embed.conftest import AXE
from ..embed.factories import published_site
from ..embed.servers import CmpServer
from ..factories import PASSWORD
from .test_browser_banner import fits, sign_in, watch

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 320, "height": 568}
BANNER = "Your choice about cookies"


async def site_and_officer(server: CmpServer, email: str) -> str:
    async def make() -> str:
        site = await published_site()
        await staff.create_staff(email, PASSWORD, "privacy")
        return site.key

    return await server.call(make())


async def saved_look(server: CmpServer, key: str) -> appearance.Appearance:
    async def read() -> appearance.Appearance:
        return appearance.draft_appearance(await Site.get(key=key))

    return await server.call(read())


async def box_style(frame: FrameLocator) -> dict[str, object]:
    """The framed banner's colours and box, read inside its shadow root."""
    banner = frame.get_by_role("region", name=BANNER)
    await banner.wait_for()
    style: dict[str, object] = await banner.evaluate(
        "(b) => { const cs = getComputedStyle(b); const r = b.getBoundingClientRect();"
        " return {bg: cs.backgroundColor, color: cs.color, left: r.left, right: r.right,"
        " width: document.documentElement.clientWidth}; }")
    return style


async def until(page: Page, frame: FrameLocator, key: str, value: object) -> None:
    """Wait until the framed banner's ``key`` is ``value``."""
    await until_true(page, frame, lambda style: style.get(key) == value, f"{key} = {value!r}")


async def until_true(page: Page, frame: FrameLocator,
                     wanted: Callable[[dict[str, object]], bool], what: str) -> None:
    """Wait (the preview reloads after a short pause, maybe more than once) until the framed
    banner's style is ``wanted``."""
    style: dict[str, object] = {}
    for _ in range(100):
        try:
            style = await box_style(frame)
            if wanted(style):
                return
        except Exception:  # noqa: BLE001 - the frame is between two documents
            pass
        await page.wait_for_timeout(100)
    raise AssertionError(f"the preview never showed {what}: {style}")


async def axe(page: Page) -> list[object]:
    # Evaluated, not added as a <script>: the admin's CSP allows no inline script.
    await page.evaluate(AXE.read_text(encoding="utf-8"))
    found: list[object] = await page.evaluate(
        "axe.run(document, {resultTypes: ['violations']}).then((r) => r.violations.map("
        "(v) => ({id: v.id, nodes: v.nodes.map((n) => n.target)})))")
    return found


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_the_preview_and_the_checks_follow_the_form_as_staff_type(
    server: CmpServer, browser: Browser, viewport: dict[str, int]
) -> None:
    email = f"look-{viewport['width']}@kurs.example"
    key = await site_and_officer(server, email)
    context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = await context.new_page()
    errors, _ = watch(page)
    await sign_in(page, server.origin, email)
    await page.goto(f"{server.origin}/admin/sites/{key}/appearance")
    frame = page.frame_locator("#look-frame")
    assert (await box_style(frame))["bg"] == "rgb(255, 255, 255)"
    checks = page.locator("#look-checks")
    assert "No problems" in await checks.inner_text()
    await fits(page, f"appearance {viewport['width']}")

    # A dark background: the preview follows, and the checks say the text is unreadable.
    await page.locator("#f-color_background").fill("#203040")
    await until(page, frame, "bg", "rgb(32, 48, 64)")
    await checks.get_by_text("the text (#1b1b1b on #203040) have a contrast of").wait_for()
    # Light text and links: readable again.
    await page.locator("#f-color_text").fill("#ffffff")
    await page.locator("#f-color_link").fill("#ffd479")
    await until(page, frame, "color", "rgb(255, 255, 255)")
    await page.locator("#f-color_primary").fill("#ffd479")
    await page.locator("#f-color_primary_text").fill("#1b1b1b")
    await checks.get_by_text("No problems").wait_for()
    # Reject all made secondary: refused as less prominent than Accept all.
    await page.locator("#f-button_reject_all").select_option("secondary")
    await checks.get_by_text("Accept all is a primary button and Reject all a secondary").wait_for()
    await page.locator("#f-button_reject_all").select_option("primary")
    # The bar along the bottom: edge to edge in the preview.
    await page.get_by_label("Bar along the bottom").check()
    await until_true(page, frame,
                     lambda style: style["left"] == 0 and style["right"] == style["width"],
                     "the bar")
    await checks.get_by_text("No problems").wait_for()
    # Nothing is saved by looking.
    assert (await saved_look(server, key)).colors.background == "#ffffff"

    await page.get_by_role("button", name="Save the appearance").click()
    await page.get_by_role("status").filter(has_text="The appearance is saved").wait_for()
    look = await saved_look(server, key)
    assert (look.layout, look.colors.background, look.colors.text) == (
        "bar", "#203040", "#ffffff")
    # After the reload the frame shows the saved draft (its URL carries no values).
    await until(page, frame, "bg", "rgb(32, 48, 64)")
    await fits(page, f"appearance saved {viewport['width']}")
    assert await axe(page) == []
    await context.close()
    assert errors == []


async def test_without_javascript_the_form_still_saves(
    server: CmpServer, browser: Browser
) -> None:
    email = "nojs@kurs.example"
    key = await site_and_officer(server, email)
    context = await browser.new_context(viewport=DESKTOP, java_script_enabled=False)  # type: ignore[arg-type]
    page = await context.new_page()
    await sign_in(page, server.origin, email)
    await page.goto(f"{server.origin}/admin/sites/{key}/appearance")
    await page.get_by_label("Centred dialog").check()
    await page.locator("#f-radius").fill("2")
    await page.get_by_role("button", name="Save the appearance").click()
    await page.get_by_role("status").filter(has_text="The appearance is saved").wait_for()
    look = await saved_look(server, key)
    assert (look.layout, look.radius) == ("dialog", 2)
    assert await page.get_by_label("Centred dialog").is_checked()
    await context.close()


async def test_screenshots_of_the_editor(
    server: CmpServer, browser: Browser, shots: Path
) -> None:
    email = "shots@kurs.example"
    key = await site_and_officer(server, email)

    async def style() -> None:
        site = await Site.get(key=key)
        await appearance.edit_appearance(site, {
            "layout": "corner", "radius": 14,
            "colors": {"background": "#fff8e7", "text": "#2b2118", "link": "#0b5e2a",
                       "primary": "#0b5e2a", "secondary": "#fff8e7",
                       "secondary_text": "#0b5e2a"},
            "buttons": {"customize": "secondary"}})
        from ..factories import png_bytes

        await appearance.upload_logo(site, png_bytes(160, 48))

    await server.call(style())
    for width, height in ((320, 568), (768, 1024), (1366, 900)):
        context = await browser.new_context(viewport={"width": width, "height": height})
        page = await context.new_page()
        await sign_in(page, server.origin, email)
        await page.goto(f"{server.origin}/admin/sites/{key}/appearance")
        await page.frame_locator("#look-frame").get_by_role("region", name=BANNER).wait_for()
        await page.wait_for_timeout(400)
        await fits(page, f"appearance {width}")
        file = shots / f"appearance-editor-{width}.png"
        await page.screenshot(path=file, full_page=True)
        assert file.stat().st_size > 1000
        await context.close()
