"""Two-factor sign-in and site-limited accounts in a real Chromium (issue 19, part 3), on a
desktop (1366×768) and a phone (320×568): enrol by scanning nothing but reading the key the page
shows (the code computed with pyotp, as an app would), the QR code drawn under the admin's CSP,
recovery codes shown once; sign out and in again through the code step; an owner limits an
account to one client's site, and that account sees that site only. Screenshots of the
enrolment page, the code step and the staff pages with site limits at 320, 768 and 1366 px
(``CMP_TEST_SCREENSHOTS``)."""

from __future__ import annotations

import time
from pathlib import Path

import pyotp
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page

from ..embed.servers import CmpServer
from ..factories import PASSWORD
from .test_browser_staff import no_overflow, sign_in

pytestmark = pytest.mark.browser

VIEWPORTS = {"mobile": {"width": 320, "height": 568}, "desktop": {"width": 1366, "height": 768}}
WIDTHS = (320, 768, 1366)


async def shoot(page: Page, shots: Path, name: str, what: str) -> None:
    """Screenshots at every width, each checked for sideways overflow."""
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 900})
        await page.screenshot(path=shots / f"{name}-{width}.png", full_page=True)
        await no_overflow(page, width, f"{what} at {width}")


def csp_watch(page: Page) -> list[str]:
    refused: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            refused.append(message.text)

    page.on("console", seen)
    return refused


@pytest.mark.parametrize("device", list(VIEWPORTS))
@pytest.mark.timeout(300)
async def test_enrol_then_sign_in_with_a_code(
    server: CmpServer, browser: Browser, shots: Path, device: str
) -> None:
    from cmp_server.services import staff

    email = f"owner-{device}@byra.example"
    await server.call(staff.create_staff(email, PASSWORD, "owner", name="Åsa"))
    base = f"http://127.0.0.1:{server.port}"
    viewport = VIEWPORTS[device]
    context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = await context.new_page()
    refused = csp_watch(page)
    await sign_in(page, base, email)
    await page.get_by_role("heading", name="Sites").wait_for()

    await page.get_by_role("link", name=email).click()
    await page.get_by_role("link", name="Two-factor sign-in").click()
    await page.get_by_role("heading", name="1. Scan this code with the app").wait_for()
    qr = page.locator("#qr")
    assert await qr.evaluate("img => img.complete && img.naturalWidth > 0")
    box = await qr.bounding_box()
    assert box and box["width"] >= 150 and box["x"] + box["width"] <= viewport["width"]
    secret = (await page.locator("#secret").inner_text()).strip()
    if device == "desktop":
        await shoot(page, shots, "two-factor-enrol", "enrolment")
        await page.set_viewport_size(viewport)  # type: ignore[arg-type]
    else:
        await no_overflow(page, viewport["width"], "enrolment")
    await page.get_by_label("6-digit code").fill("000000" if pyotp.TOTP(secret).now()
                                                  != "000000" else "111111")
    await page.get_by_role("button", name="Turn on").click()
    await page.get_by_text("That code is wrong or was already used").wait_for()
    await page.get_by_label("6-digit code").fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Turn on").click()
    await page.get_by_role("heading", name="Your recovery codes").wait_for()
    codes = await page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    await page.screenshot(path=shots / f"two-factor-codes-{device}.png", full_page=True)
    await no_overflow(page, viewport["width"], "recovery codes")
    await page.get_by_role("link", name="I have saved them").click()
    await page.get_by_role("heading", name="Sites").wait_for()

    await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, base, email)
    await page.get_by_role("heading", name="Two-factor sign-in").wait_for()
    assert "/admin/login/code" in page.url
    if device == "desktop":
        await shoot(page, shots, "two-factor-code-step", "the code step")
        await page.set_viewport_size(viewport)  # type: ignore[arg-type]
    else:
        await no_overflow(page, viewport["width"], "the code step")
    await page.get_by_label("Code").fill("123 456")
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_text("That code is wrong or was already used").wait_for()
    # The next step's code: the enrolment used this one.
    await page.get_by_label("Code").fill(pyotp.TOTP(secret).at(time.time() + 30))
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="Sites").wait_for()

    # A recovery code signs in once.
    await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, base, email)
    await page.get_by_label("Code").fill(codes[0])
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="Sites").wait_for()
    assert refused == [], refused
    await context.close()


@pytest.mark.parametrize("device", list(VIEWPORTS))
@pytest.mark.timeout(300)
async def test_a_site_limited_account_sees_its_clients_site_only(
    server: CmpServer, browser: Browser, shots: Path, device: str
) -> None:
    from cmp_server.services import sites, staff

    owner_email = f"chef-{device}@byra.example"
    member_email = f"konsult-{device}@byra.example"

    async def setup() -> tuple[int, str, str]:
        one = await sites.create_site(f"Kund Ett {device}", ["ett.example"], force=True)
        two = await sites.create_site(f"Kund Två {device}", ["tva.example"], force=True)
        await staff.create_staff(owner_email, PASSWORD, "owner", name="Chefen")
        member = await staff.create_staff(member_email, PASSWORD, "privacy",
                                          name="Konsulten")
        return member.id, one.key, two.key

    member_id, one_key, two_key = await server.call(setup())
    base = f"http://127.0.0.1:{server.port}"
    viewport = VIEWPORTS[device]
    owner_context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    owner = await owner_context.new_page()
    await sign_in(owner, base, owner_email)
    await owner.get_by_role("heading", name="Sites").wait_for()
    await owner.goto(f"{base}/admin/staff/{member_id}")
    await owner.get_by_label("Only these sites:").check()
    await owner.get_by_label(f"Kund Ett {device}").check()
    await owner.get_by_role("button", name="Save the sites").click()
    await owner.get_by_text("The account's sites are saved.").wait_for()
    assert f"Kund Ett {device}" in await owner.locator(".sites-fact").inner_text()
    if device == "desktop":
        await shoot(owner, shots, "staff-account-sites", "the staff account with its sites")
        await owner.goto(f"{base}/admin/staff")
        await owner.get_by_text(f"sites: Kund Ett {device}").wait_for()
        await shoot(owner, shots, "staff-list-sites", "the staff list with site limits")
    else:
        await no_overflow(owner, viewport["width"], "staff account with sites")
    await owner_context.close()

    context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = await context.new_page()
    await sign_in(page, base, member_email)
    await page.get_by_role("heading", name="Sites").wait_for()
    await page.get_by_role("link", name=f"Kund Ett {device}").first.wait_for()
    assert f"Kund Två {device}" not in await page.content()
    await page.screenshot(path=shots / f"limited-dashboard-{device}.png", full_page=True)
    await no_overflow(page, viewport["width"], "the limited dashboard")
    answer = await page.goto(f"{base}/admin/sites/{two_key}/inventory")
    assert answer and answer.status == 404
    assert f"Kund Två {device}" not in await page.content()
    answer = await page.goto(f"{base}/admin/sites/{one_key}/inventory")
    assert answer and answer.status == 200
    answer = await page.goto(f"{base}/admin/audit")
    assert answer and answer.status == 200
    assert f"Kund Två {device}" not in await page.content()
    await context.close()
