"""The admin in a real Chromium: sign in, look around, sign out; screenshots, desktop and
mobile, for someone to look at (written to ``CMP_TEST_SCREENSHOTS`` when set)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from scanner.browser import launch_chromium

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


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await launch_chromium(p)
        yield b
        await b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("CMP_TEST_SCREENSHOTS")
    path = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


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
        assert await page.get_by_role("rowheader", name=PAYLOAD).count() == 1
        assert await page.evaluate("window.pwned") is None
        snippet = await page.locator("code.snippet").first.inner_text()
        assert snippet.startswith('<script src="') and snippet.endswith('/cmp.js"></script>')
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
