"""Automatic blocking in the admin, in a real Chromium: the rules page (desktop and mobile), and
the preview of the draft with sample tags under the rules: held before a choice, released on
Accept all, only reported in report-only mode, and never a request to another site (the
admin's CSP refuses a released sample). Screenshots for someone to look at."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page

from ..embed.factories import published_site
from ..embed.servers import CmpServer
from ..factories import PASSWORD
from .test_browser_banner import VIEWPORTS, fits, sign_in, watch

pytestmark = pytest.mark.browser


async def _site_and_officer(server: CmpServer, email: str) -> str:
    from cmp_server.services import staff

    async def make() -> str:
        site = await published_site()  # Google and Meta in its inventory: rules for both
        await staff.create_staff(email, PASSWORD, "privacy")
        return site.key

    return await server.call(make())


async def _states(page: Page) -> list[str]:
    return await page.locator("#cmp-blocked td[data-label=State]").all_inner_texts()


async def test_the_rules_page_and_the_preview_at_work(
    server: CmpServer, browser: Browser, shots: Path
) -> None:
    email = "blocking@kurs.example"
    key = await _site_and_officer(server, email)
    base = server.origin
    context = await browser.new_context(viewport=VIEWPORTS["desktop"])  # type: ignore[arg-type]
    admin = await context.new_page()
    errors, requests = watch(admin)
    await sign_in(admin, base, email)

    await admin.goto(f"{base}/admin/sites/{key}/blocking")
    rules = admin.get_by_role("table", name="Blocking rules")
    await rules.locator("code.url").get_by_text("connect.facebook.net", exact=True).wait_for()
    for name, viewport in VIEWPORTS.items():
        await admin.set_viewport_size(viewport)  # type: ignore[arg-type]
        await fits(admin, f"blocking-{name}")
        await admin.screenshot(path=shots / f"blocking-rules-{name}.png", full_page=True)
    await admin.set_viewport_size(VIEWPORTS["desktop"])  # type: ignore[arg-type]

    # The preview: the samples wait for the visitor's choice...
    await admin.goto(f"{base}/admin/sites/{key}/preview?lang=en")
    banner = admin.get_by_role("region", name="Your choice about cookies")
    await banner.wait_for()
    await admin.wait_for_function(
        "document.querySelectorAll('#cmp-blocked tr').length >= 3")
    assert set(await _states(admin)) == {"held"}
    own = urlsplit(base).netloc
    assert [r.url for r in requests if urlsplit(r.url).netloc != own] == []
    assert await admin.locator("#cmp-blocked-none").is_hidden()
    await admin.screenshot(path=shots / "blocking-preview-held-desktop.png", full_page=True)
    # ... and go once it is made: the browser then refuses them (the admin's CSP).
    await banner.get_by_role("button", name="Accept all").click()
    await admin.wait_for_function(
        "[...document.querySelectorAll('#cmp-blocked td[data-label=State]')]"
        ".every((td) => td.textContent === 'released')")
    await admin.set_viewport_size(VIEWPORTS["mobile"])  # type: ignore[arg-type]
    await fits(admin, "blocking-preview-mobile")
    await admin.screenshot(path=shots / "blocking-preview-released-mobile.png", full_page=True)

    # Report only: nothing waits, every match is reported.
    await admin.goto(f"{base}/admin/sites/{key}/blocking")
    await admin.get_by_label("Report only").check()
    await admin.get_by_role("button", name="Save the mode").click()
    await admin.get_by_role("status").filter(has_text="The mode is saved").wait_for()
    await admin.goto(f"{base}/admin/sites/{key}/preview?lang=en")
    await admin.wait_for_function(
        "document.querySelectorAll('#cmp-blocked tr').length >= 3")
    assert set(await _states(admin)) == {"reported"}
    assert "Report only" in await admin.locator(".sample-blocking").inner_text()

    # Released and reported samples were asked for, and the browser refused each one.
    outside = [r for r in requests if urlsplit(r.url).netloc != own]
    assert outside
    for request in outside:
        await request.response()  # settled: failed or answered
    assert {r.failure for r in outside} == {"csp"}, outside  # never sent
    assert errors == []
    await context.close()
