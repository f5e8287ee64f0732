"""The loop the admin exists for, end to end in a real Chromium with the real scanner (issue
11's done-when): a privacy officer signs in, scans a local fixture site carrying our tag,
maps the unreviewed cookie the scan found to a purpose, edits a Swedish text, previews it,
publishes, and sees the banner and the declaration change on the site's page. A viewer cannot
publish, a privacy officer cannot manage staff, and signing out ends the session on the
server (its cookie no longer opens anything)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, BrowserContext, Page

from ..embed.servers import CmpServer, HostServer, Route, running
from ..factories import PASSWORD, published_site

pytestmark = pytest.mark.browser

SCAN_TIMEOUT = 240_000  # ms: three passes of one page on a busy machine
NEW_TITLE = "Kakor och integritet hos Fixturbutiken"
OFFICER, VIEWER = "privacy@fixture.example", "viewer@fixture.example"


# The fixture site is on this machine: the server refuses it unless the operator allows.
SERVER_SETTINGS = {"allow_private_scan_targets": True}


@pytest.fixture(scope="module")
def host() -> Iterator[HostServer]:
    h = HostServer()
    with running(h):
        yield h


def fixture_site(host: HostServer, tag: str) -> str:
    """A Swedish page with our tag, an A/B cookie the site sets before any choice (nothing
    classifies it), and its cookie declaration."""
    host.routes["/ab.js"] = Route(
        b'document.cookie = "ab_variant=B; path=/; max-age=2592000";', "text/javascript")
    host.add("/", '<!doctype html><html lang="sv"><head><meta charset="utf-8">'
             f'<title>Fixturbutiken</title><script src="{tag}"></script>'
             '<script src="/ab.js"></script></head><body><main><h1>Fixturbutiken</h1>'
             "<h2>Kakor vi använder</h2><div data-cmp-declaration></div></main></body></html>")
    return host.url("/", host="127.0.0.1")


async def sign_in(context: BrowserContext, base: str, email: str) -> Page:
    page = await context.new_page()
    await page.goto(f"{base}/admin/")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="Sites").wait_for()
    return page


@pytest.mark.timeout(900)
async def test_scan_map_edit_preview_publish_and_the_site_changes(
    server: CmpServer, host: HostServer, browser: Browser
) -> None:
    from cmp_server.services import staff

    base = f"http://127.0.0.1:{server.port}"

    async def setup() -> str:
        site, _ = await published_site("Fixturbutiken", ("127.0.0.1",))
        await staff.create_staff(OFFICER, PASSWORD, "privacy")
        await staff.create_staff(VIEWER, PASSWORD, "viewer")
        return site.key

    key = await server.call(setup())
    url = fixture_site(host, f"{base}/v1/sites/{key}/cmp.js")
    officer = await browser.new_context()
    errors: list[str] = []
    page = await sign_in(officer, base, OFFICER)
    page.on("pageerror", lambda e: errors.append(str(e)))

    # Scan the site from its Scans tab, and wait for the findings.
    await page.get_by_role("link", name="Fixturbutiken").first.click()
    await page.get_by_role("link", name="Scans").click()
    await page.get_by_label("Start URL", exact=True).fill(url)
    await page.get_by_label("Page budget").fill("1")
    await page.get_by_role("button", name="Start scan").click()
    await page.get_by_role("link", name="See the findings and what changed").wait_for(
        timeout=SCAN_TIMEOUT)

    # The cookie the scan found waits in the inventory, unreviewed: map it to a purpose.
    await page.get_by_role("link", name="Cookies", exact=True).click()
    await page.get_by_role("link", name="Unreviewed").click()
    await page.get_by_label("Tick ab_variant").check()
    await page.get_by_label("Action").select_option("set_purpose")
    await page.locator("#f-to_purpose").select_option("preferences")
    await page.get_by_role("button", name="Apply").click()
    await page.get_by_text("1 item: purpose set, and marked reviewed.").wait_for()
    assert await page.get_by_label("Tick ab_variant").count() == 0  # reviewed now

    # Edit the Swedish title and see it in the preview, in the real embed.
    await page.goto(f"{base}/admin/sites/{key}/banner?lang=sv")
    await page.locator("#f-text-title").fill(NEW_TITLE)
    await page.get_by_role("button", name="Save the sv texts").click()
    await page.get_by_role("status").filter(has_text="sv texts are saved").wait_for()
    await page.get_by_role("link", name="Preview in sv").click()
    await page.get_by_role("region", name=NEW_TITLE).wait_for()

    # The summary names both changes; publish.
    await page.goto(f"{base}/admin/sites/{key}/publish")
    summary = re.sub(r"\s+", " ", await page.locator("main").inner_text())
    assert NEW_TITLE in summary and "ab_variant" in summary
    await page.get_by_role("button", name="Publish version 2").click()
    await page.get_by_role("status").filter(has_text="Version 2 is published").wait_for()

    # A visitor of the site sees the new title, and the declaration lists the mapped cookie.
    visitor = await browser.new_context(locale="sv-SE")
    site_page = await visitor.new_page()
    await site_page.goto(url)
    await site_page.get_by_role("region", name=NEW_TITLE).wait_for()
    declaration = site_page.locator("[data-cmp-declaration]")
    row = declaration.get_by_role("row").filter(has_text="ab_variant")
    await row.wait_for()
    preferences = declaration.get_by_role("table").filter(has=site_page.get_by_text("ab_variant"))
    assert await preferences.count() == 1
    await visitor.close()

    # A privacy officer does not manage staff.
    refused = await page.goto(f"{base}/admin/staff")
    assert refused is not None and refused.status == 403
    assert "needs the owner role" in await page.inner_text("main")

    # Signing out ends the session: its cookie opens nothing afterwards.
    kept = await officer.cookies()
    await page.goto(f"{base}/admin/")
    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_role("heading", name="Sign in").wait_for()
    replay = await browser.new_context()
    await replay.add_cookies(kept)  # type: ignore[arg-type]
    again = await replay.new_page()
    await again.goto(f"{base}/admin/sites/{key}/inventory")
    await again.get_by_role("heading", name="Sign in").wait_for()
    await replay.close()
    await officer.close()
    assert errors == [], errors

    # A viewer sees the publish page without its button, and a publish they post is refused.
    watcher = await browser.new_context()
    look = await sign_in(watcher, base, VIEWER)
    await look.goto(f"{base}/admin/sites/{key}/publish")
    assert await look.get_by_role("button", name=re.compile("^Publish")).count() == 0
    token = await look.locator('input[name="csrf_token"]').first.input_value()
    posted = await look.request.post(f"{base}/admin/sites/{key}/publish",
                                     form={"csrf_token": token})
    assert posted.status == 403
    await watcher.close()
    versions = await server.call(_versions(key))
    assert versions == [1, 2]


async def _versions(key: str) -> list[int]:
    from cmp_server.services import changes, sites

    return sorted(v.number for v in await changes.list_versions(await sites.get_site(key)))
