"""The banner pages in a real Chromium (issue 11's done-when): a privacy officer edits a Swedish
text, previews it in the real embed, publishes from the summary, and sees the change on a page
carrying the site's tag. An XSS payload in a text stays inert in the preview. Screenshots,
desktop and mobile, of the editor, the preview, the summary and the version diff."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Request

from ..embed.factories import Tag, page, published_site
from ..embed.servers import CmpServer, HostServer, running
from ..factories import PASSWORD

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "mobile": {"width": 390, "height": 844}}
NEW_TITLE = "Kakor hos Kursgården"
PAYLOAD = '<img src=x onerror="window.pwned=1"></script><script>window.pwned=1</script>'


@pytest.fixture(scope="module")
def host() -> Iterator[HostServer]:
    s = HostServer()
    with running(s):
        yield s


async def site_and_officer(server: CmpServer, email: str) -> str:
    from cmp_server.services import staff

    async def make() -> str:
        site = await published_site()
        await staff.create_staff(email, PASSWORD, "privacy")
        return site.key

    return await server.call(make())


async def sign_in(page: Page, base: str, email: str) -> None:
    await page.goto(f"{base}/admin/")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="Sites").wait_for()


def watch(page: Page) -> tuple[list[str], list[Request]]:
    """The page's errors (and failed admin assets), and every request it makes."""
    errors: list[str] = []
    requests: list[Request] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # The admin's assets and the embed: none may fail (the browser's own favicon may).
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    page.on("request", lambda r: requests.append(r))
    return errors, requests


async def fits(page: Page, name: str) -> None:
    """Nothing overflows the viewport sideways (wide things scroll in their own box)."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size
    assert viewport is not None and width <= viewport["width"], (name, width)


async def test_edit_preview_publish_and_see_it_on_the_site(
    server: CmpServer, host: HostServer, browser: Browser, shots: Path
) -> None:
    email = "privacy@kurs.example"
    key = await site_and_officer(server, email)
    base = server.origin
    context = await browser.new_context(viewport=VIEWPORTS["desktop"])  # type: ignore[arg-type]
    admin = await context.new_page()
    errors, requests = watch(admin)
    await sign_in(admin, base, email)

    # Edit the Swedish title.
    await admin.goto(f"{base}/admin/sites/{key}/banner?lang=sv")
    title = admin.locator("#f-text-title")
    assert await title.input_value() == "Ditt val om kakor"
    await title.fill(NEW_TITLE)
    await admin.get_by_role("button", name="Save the sv texts").click()
    await admin.get_by_role("status").filter(has_text="sv texts are saved").wait_for()
    assert await admin.locator("#f-text-title").input_value() == NEW_TITLE

    # The preview: the real embed, from the draft, in Swedish.
    await admin.get_by_role("link", name="Preview in sv").click()
    banner = admin.get_by_role("region", name=NEW_TITLE)
    await banner.wait_for()
    assert await admin.evaluate("document.documentElement.lang") == "sv"
    await banner.get_by_role("button", name="Godkänn alla").wait_for()
    await banner.get_by_role("button", name="Avvisa alla").wait_for()
    # The declaration, as the embed fills it, lists the draft's inventory.
    declaration = admin.locator("[data-cmp-declaration]")
    await declaration.get_by_text("_fbp", exact=True).wait_for()
    # The second layer, in Swedish.
    await banner.get_by_role("button", name="Anpassa").click()
    dialog = admin.get_by_role("dialog", name="Inställningar för kakor")
    await dialog.wait_for()
    await dialog.get_by_role("button", name="Godkänn alla").click()
    await dialog.wait_for(state="detached")
    # A choice in the preview is nobody's consent: no receipt sent, no consent cookie.
    await admin.reload()
    await admin.get_by_role("region", name=NEW_TITLE).wait_for()  # asked again: nothing kept
    assert not [r for r in requests if "/consents" in r.url]
    assert [c["name"] for c in await context.cookies()] == ["cmp_admin"]
    assert server.receipts(key) == []

    # Screenshots of the editor, the preview (both layers) and the summary, both sizes.
    for name, viewport in VIEWPORTS.items():
        await admin.set_viewport_size(viewport)  # type: ignore[arg-type]
        await admin.goto(f"{base}/admin/sites/{key}/banner?lang=sv")
        await fits(admin, f"banner-{name}")
        await admin.screenshot(path=shots / f"banner-editor-{name}.png", full_page=True)
        await admin.goto(f"{base}/admin/sites/{key}/preview?lang=sv")
        await admin.get_by_role("region", name=NEW_TITLE).wait_for()
        await admin.locator("[data-cmp-declaration]").get_by_text("_fbp", exact=True).wait_for()
        await fits(admin, f"preview-{name}")
        await admin.screenshot(path=shots / f"banner-preview-{name}.png", full_page=True)
        await admin.get_by_role("region", name=NEW_TITLE).get_by_role(
            "button", name="Anpassa").click()
        await admin.get_by_role("dialog", name="Inställningar för kakor").wait_for()
        await admin.screenshot(path=shots / f"banner-preview-second-layer-{name}.png",
                               animations="disabled")
        await admin.goto(f"{base}/admin/sites/{key}/publish")
        await admin.get_by_role("button", name="Publish version 2").wait_for()
        await fits(admin, f"publish-{name}")
        await admin.screenshot(path=shots / f"banner-publish-summary-{name}.png", full_page=True)
    await admin.set_viewport_size(VIEWPORTS["desktop"])  # type: ignore[arg-type]

    # The summary shows the change, then publishing makes version 2.
    changes = admin.locator("#changes")
    assert (await changes.locator(".was").first.inner_text()).endswith("Ditt val om kakor")
    assert (await changes.locator(".now").first.inner_text()).endswith(NEW_TITLE)
    await admin.get_by_role("button", name="Publish version 2").click()
    await admin.get_by_role("status").filter(has_text="Version 2 is published").wait_for()

    # The site's page with the public tag shows the new title to a Swedish reader.
    visitor_context = await browser.new_context(viewport=VIEWPORTS["desktop"])  # type: ignore[arg-type]
    visitor = await visitor_context.new_page()
    visitor_errors, _ = watch(visitor)
    url = host.add("/kurser/", page(Tag(server.origin, key), body="", lang="sv"))
    await visitor.goto(url)
    await visitor.get_by_role("region", name=NEW_TITLE).wait_for()
    await visitor_context.close()

    # The version diff: the line that changed, both sizes.
    for name, viewport in VIEWPORTS.items():
        await admin.set_viewport_size(viewport)  # type: ignore[arg-type]
        await admin.goto(f"{base}/admin/sites/{key}/versions")
        await admin.get_by_role("link", name="changes from 1").click()
        await admin.get_by_role("heading", name="From version 1 to version 2").wait_for()
        added = admin.locator(".d-add").filter(has_text=NEW_TITLE)
        assert await added.count() == 1
        await fits(admin, f"diff-{name}")
        await admin.screenshot(path=shots / f"banner-version-diff-{name}.png", full_page=True)
    await context.close()
    assert errors == [] and visitor_errors == [], (errors, visitor_errors)


async def test_a_script_in_a_text_is_inert_in_the_preview(
    server: CmpServer, browser: Browser
) -> None:
    from cmp_server.services import drafts, sites

    email = "privacy2@kurs.example"
    key = await site_and_officer(server, email)

    async def hostile() -> None:
        site = await sites.get_site(key)
        await drafts.edit_purpose(site, "statistics", description={"sv": PAYLOAD})

    await server.call(hostile())
    context = await browser.new_context()
    admin = await context.new_page()
    errors, _ = watch(admin)
    await sign_in(admin, server.origin, email)
    # Typed through the editor, as staff would.
    await admin.goto(f"{server.origin}/admin/sites/{key}/banner?lang=sv")
    await admin.locator("#f-text-title").fill(PAYLOAD)
    await admin.get_by_role("button", name="Save the sv texts").click()
    await admin.get_by_role("status").wait_for()
    assert await admin.locator("#f-text-title").input_value() == PAYLOAD
    await admin.goto(f"{server.origin}/admin/sites/{key}/preview?lang=sv")
    banner = admin.get_by_role("region", name=PAYLOAD)
    await banner.wait_for()  # the payload is the banner's title, as text
    await admin.locator("[data-cmp-declaration]").get_by_text(PAYLOAD).wait_for()
    await banner.get_by_role("button", name="Anpassa").click()
    await admin.get_by_role("dialog").get_by_text(PAYLOAD).wait_for()
    assert await admin.evaluate("window.pwned") is None
    assert await admin.locator("img[src=x]").count() == 0
    await admin.goto(f"{server.origin}/admin/sites/{key}/publish")
    await admin.get_by_role("button", name="Publish version 2").wait_for()
    assert await admin.evaluate("window.pwned") is None
    await context.close()
    assert errors == [], errors
