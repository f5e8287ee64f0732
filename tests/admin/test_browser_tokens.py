"""The API tokens page in a real Chromium, desktop (1366) and phone (320 × 568): an owner makes
a token for one site (shown once, and it works against the API), sees it listed, revokes
it; the page fits the screen. Screenshots for someone to look at."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser

from ..embed.factories import published_site
from ..embed.servers import CmpServer
from ..factories import PASSWORD
from .test_browser_banner import fits, sign_in, watch

pytestmark = pytest.mark.browser
SIZES = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 320, "height": 568}}


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
async def test_make_use_and_revoke_a_token(
    server: CmpServer, browser: Browser, shots: Path, viewport: str
) -> None:
    from cmp_server.services import sites, staff

    email = f"owner-{viewport}@kurs.example"

    async def make() -> str:
        site = await published_site()
        await sites.create_site("Webshop <b>two</b>", [f"two-{viewport}.example"], force=True)
        await staff.create_staff(email, PASSWORD, "owner")
        return site.key

    key = await server.call(make())
    context = await browser.new_context(viewport=SIZES[viewport])  # type: ignore[arg-type]
    page = await context.new_page()
    errors, _ = watch(page)
    await sign_in(page, server.origin, email)
    await page.get_by_role("link", name="API tokens").click()
    await page.get_by_role("heading", name="API tokens").wait_for()
    await page.get_by_label("Name").fill(f"CI deploy {viewport}")
    await page.get_by_label("Write: also edit").check()
    await page.get_by_label(key).check()
    await fits(page, f"tokens-form-{viewport}")
    await page.screenshot(path=str(shots / f"tokens-form-{viewport}.png"), full_page=True)
    await page.get_by_role("button", name="Make the token").click()
    token = await page.locator("#api-token").inner_text()
    assert token.startswith("cmp_")
    await fits(page, f"tokens-made-{viewport}")
    await page.screenshot(path=str(shots / f"tokens-made-{viewport}.png"), full_page=True)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
        answer = await client.get("/admin/api/v1/sites",
                                  headers={"Authorization": f"Bearer {token}"})
        assert [s["key"] for s in answer.json()["sites"]] == [key]
        await page.get_by_role("button", name=f"Revoke the token CI deploy {viewport}").click()
        await page.get_by_text("The token is revoked").wait_for()
        again = await client.get("/admin/api/v1/sites",
                                 headers={"Authorization": f"Bearer {token}"})
        assert again.status_code == 401
    await page.reload()
    await fits(page, f"tokens-revoked-{viewport}")
    await page.screenshot(path=str(shots / f"tokens-revoked-{viewport}.png"), full_page=True)
    assert not errors, errors
    await context.close()
