"""Webhooks in a real Chromium, desktop and phone: an owner adds an endpoint (the secret shown
once), sends it a test event, and watches the server's own worker deliver it to a local
receiver, signed; both pages fit the screen. Screenshots for someone to look at."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Browser
from standardwebhooks import Webhook

from ..embed.factories import published_site
from ..embed.servers import CmpServer
from ..factories import PASSWORD
from ..test_webhooks import Receiver, receiver  # noqa: F401 - the receiver fixture
from .test_browser_banner import VIEWPORTS, fits, sign_in, watch

pytestmark = pytest.mark.browser


# The receiver listens on 127.0.0.1, which only this setting lets a webhook reach.
SERVER_SETTINGS = {"allow_private_scan_targets": True, "run_worker": True}


@pytest.mark.parametrize("viewport", ["desktop", "mobile"])
async def test_add_an_endpoint_and_watch_a_test_event_arrive(
    server: CmpServer, browser: Browser, shots: Path, receiver: Receiver,  # noqa: F811
    viewport: str,
) -> None:
    from cmp_server.services import staff

    email = f"owner-{viewport}@kurs.example"

    async def make() -> str:
        site = await published_site()
        await staff.create_staff(email, PASSWORD, "owner")
        return site.key

    key = await server.call(make())
    context = await browser.new_context(viewport=VIEWPORTS[viewport])  # type: ignore[arg-type]
    page = await context.new_page()
    errors, _ = watch(page)
    await sign_in(page, server.origin, email)
    await page.goto(f"{server.origin}/admin/sites/{key}/notifications")
    await page.get_by_label("URL").fill(receiver.url)
    await page.get_by_label("Description (optional)").fill("Ops channel")
    await page.get_by_role("button", name="Add the endpoint").click()
    secret = await page.locator("#webhook-secret").inner_text()
    assert secret.startswith("whsec_")
    await fits(page, f"notifications-{viewport}")
    await page.screenshot(path=str(shots / f"webhooks-added-{viewport}.png"), full_page=True)

    await page.get_by_role("link", name="Send it a test event").click()
    await page.get_by_role("button", name="Send a test event").click()
    await page.get_by_text("A test event is on its way").wait_for()
    for _ in range(100):  # the server's worker looks for deliveries every second
        if receiver.requests:
            break
        await asyncio.sleep(0.1)
    [(headers, body)] = receiver.requests
    assert Webhook(secret).verify(body, headers)["type"] == "webhook.test"
    await page.reload()
    await page.locator("td[data-label=Status]", has_text="delivered").wait_for()
    await fits(page, f"webhook-{viewport}")
    await page.screenshot(path=str(shots / f"webhook-log-{viewport}.png"), full_page=True)
    assert errors == []
    await context.close()
