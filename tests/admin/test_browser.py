"""The admin in a real Chromium: sign in, look around, sign out; screenshots, desktop and
mobile, for someone to look at (written to ``CMP_TEST_SCREENSHOTS`` when set)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from ..embed.servers import CmpServer, running
from ..factories import PASSWORD

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "mobile": {"width": 390, "height": 844}}
PAYLOAD = '<img src=x onerror="window.pwned=1">Kurs & Co'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CmpServer]:
    s = CmpServer(tmp_path_factory.mktemp("admin-db"))
    with running(s):
        yield s


async def accounts(server: CmpServer) -> tuple[str, str]:
    from cmp_server.services import sites, staff

    async def make() -> tuple[str, str]:
        await sites.create_site(PAYLOAD, ["kurs.example"], force=True)
        owner = await staff.create_staff("owner@kurs.example", PASSWORD, "owner")
        viewer = await staff.create_staff("viewer@kurs.example", PASSWORD, "viewer")
        return owner.email, viewer.email

    return await server.call(make())


async def sign_in(page: Page, base: str, email: str) -> None:
    await page.goto(f"{base}/admin/")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="Sites").wait_for()


async def test_sign_in_look_around_and_sign_out(
    server: CmpServer, browser: Browser, shots: Path
) -> None:
    owner, viewer = await accounts(server)
    base = f"http://127.0.0.1:{server.port}"
    for name, viewport in VIEWPORTS.items():
        context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e, seen=errors: seen.append(str(e)))
        page.on("response", lambda r, seen=errors: seen.append(f"{r.status} {r.url}")
                if r.status >= 400 and "/static/" in r.url else None)
        await page.goto(f"{base}/admin/")
        await page.get_by_role("heading", name="Sign in").wait_for()
        await page.screenshot(path=shots / f"admin-login-{name}.png", full_page=True)
        await page.get_by_label("Email").fill(owner)
        await page.get_by_label("Password").fill("wrong password here")
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("alert").wait_for()
        assert await page.get_by_role("alert").inner_text() == "The email or the password is wrong."
        await sign_in(page, base, owner)
        # The site's name is shown as the text it is, not run.
        assert await page.get_by_role("heading", name=PAYLOAD).count() == 1
        assert await page.evaluate("window.pwned") is None
        assert await page.get_by_text("Needs attention").count() >= 1
        await page.screenshot(path=shots / f"admin-dashboard-{name}.png", full_page=True)
        # Nothing overflows the viewport sideways (the table scrolls inside its own box).
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], (name, width)
        await page.get_by_role("link", name="Staff").click()
        await page.get_by_role("heading", name="Add an account").wait_for()
        await page.screenshot(path=shots / f"admin-staff-{name}.png", full_page=True)
        await page.get_by_role("button", name="Sign out").click()
        await page.get_by_role("heading", name="Sign in").wait_for()
        await page.goto(f"{base}/admin/staff")
        await page.get_by_role("heading", name="Sign in").wait_for()
        assert errors == [], errors
        await context.close()

    # A viewer sees the sites but is refused the staff page, and has no link to it.
    context = await browser.new_context()
    page = await context.new_page()
    await sign_in(page, base, viewer)
    assert await page.get_by_role("link", name="Staff").count() == 0
    response = await page.goto(f"{base}/admin/staff")
    assert response is not None and response.status == 403
    assert "needs the owner role" in await page.inner_text("main")
    await context.close()


async def test_site_settings_with_and_without_javascript(
    server: CmpServer, browser: Browser, shots: Path
) -> None:
    from cmp_server.services import sites, staff

    async def make() -> str:
        site = await sites.create_site("Fjordskolen", ["fjordskolen.example"], force=True,
                                       languages=["da", "en"], default_language="da")
        await staff.create_staff("owner2@kurs.example", PASSWORD, "owner")
        return site.key

    key = await server.call(make())
    base = f"http://127.0.0.1:{server.port}"
    for name, viewport in VIEWPORTS.items():
        for javascript in (True, False):
            context = await browser.new_context(
                viewport=viewport, java_script_enabled=javascript)  # type: ignore[arg-type]
            page = await context.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda e, seen=problems: seen.append(str(e)))
            # CSP violations and script errors are console errors; a refused form's own 422
            # is not a problem.
            page.on("console", lambda m, seen=problems: seen.append(m.text)
                    if m.type == "error" and "status of 422" not in m.text else None)
            await sign_in(page, base, "owner2@kurs.example")
            await page.goto(f"{base}/admin/sites/{key}")
            await page.get_by_role("heading", name="Install").wait_for()
            copy = page.get_by_role("button", name="Copy")
            # The copy buttons exist only where the script runs (and the clipboard API does).
            assert await copy.count() == (2 if javascript else 0)
            if javascript:
                assert await page.evaluate("typeof window.htmx") == "object"
            await page.get_by_label("Cookie policy URL").fill("javascript:alert(1)")
            await page.get_by_role("button", name="Save settings").click()
            error = page.locator("#e-policy_url")
            await error.wait_for()
            assert "must be an http:// or https://" in await error.inner_text()
            await page.screenshot(path=shots / f"admin-site-error-{name}.png", full_page=True)
            await page.get_by_label("Cookie policy URL").fill("/cookies")
            await page.get_by_label("Consent lifetime (days)").fill("365")
            await page.get_by_role("button", name="Save settings").click()
            await page.get_by_role("status").wait_for()
            assert await page.get_by_label("Consent lifetime (days)").input_value() == "365"
            if javascript and name == "desktop" or not javascript and name == "mobile":
                await page.screenshot(
                    path=shots / f"admin-site-{name}{'' if javascript else '-nojs'}.png",
                    full_page=True)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"], (name, width)
            assert problems == [], problems
            await context.close()
    saved = await server.call(sites.get_site(key))
    assert (saved.policy_url, saved.consent_lifetime_days) == ("/cookies", 365)


async def test_with_javascript_one_box_ticks_every_row_of_the_inventory_page(
    server: CmpServer, browser: Browser
) -> None:
    from cmp_server.services import inventory, sites, staff

    async def make() -> str:
        site = await sites.create_site("Tick site", ["tick.example"], force=True)
        for name in ("a_cookie", "b_cookie", "c_cookie"):
            await inventory.add_item(site, name=name, review_status="unreviewed")
        await staff.create_staff("privacy-tick@kurs.example", PASSWORD, "privacy")
        return site.key

    key = await server.call(make())
    base = f"http://127.0.0.1:{server.port}"
    for javascript in (True, False):
        context = await browser.new_context(java_script_enabled=javascript)
        page = await context.new_page()
        await sign_in(page, base, "privacy-tick@kurs.example")
        await page.goto(f"{base}/admin/sites/{key}/inventory")
        every = page.get_by_label("Tick every row on this page")
        if not javascript:
            assert not await every.is_visible()  # nothing that cannot work
            await context.close()
            continue
        await every.check()
        for name in ("a_cookie", "b_cookie", "c_cookie"):
            assert await page.get_by_label(f"Tick {name}").is_checked()
        await every.uncheck()
        assert not await page.get_by_label("Tick b_cookie").is_checked()
        await context.close()
