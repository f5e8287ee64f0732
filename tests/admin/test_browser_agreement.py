"""One truth for an item, in a real Chromium with the real scanner: a privacy officer scans a
local fixture shop, maps the cookie nothing classified (``fixture_pref``) to Statistics in the
inventory and marks it reviewed, scans again, and then every place says the same, read from
the pages as staff read them: the new scan's findings list it as a violation of the site's own
(not "unclassified", not vendor "127.0.0.1"); the scan's count, its history row and the scans
page count as many violations as its Violations table has rows; the item page flags it a
violation; the inventory's violation filter and the dashboard give the same number; the scan's
summary and its history line count the same changes. On a desktop and on a 320×568 phone.

Screenshots go to ``CMP_TEST_SCREENSHOTS`` when set."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from ..embed.servers import CmpServer, HostServer, running
from ..factories import PASSWORD, published_site
from .test_browser_scans import SCAN_TIMEOUT, shop, sign_in, text_of

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1366, "height": 800}, "phone": {"width": 320, "height": 568}}

# The fixture shop is on this machine: the server refuses it unless the operator allows.
SERVER_SETTINGS = {"allow_private_scan_targets": True}


@pytest.fixture(scope="module")
def host() -> Iterator[HostServer]:
    h = HostServer()
    with running(h):
        yield h


async def snap(page: Page, shots: Path, name: str, viewport: str) -> None:
    await page.screenshot(path=shots / f"agree-{name}-{viewport}.png", full_page=True)
    # Nothing wider than the screen: wide tables scroll inside their own box.
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[viewport]["width"], (name, viewport, width)


async def stat(page: Page, label: str) -> int:
    """A number of the page's ``dl.stats``, by its exact term."""
    term = page.locator("dl.stats > div").filter(
        has=page.locator("dt", has_text=re.compile(f"^{label}$")))
    return int((await term.locator("dd").inner_text()).strip())


async def scan(page: Page, base: str, key: str, url: str) -> str:
    """Start a scan of two pages on the scans page and wait for it: its findings' URL."""
    await page.goto(f"{base}/admin/sites/{key}/scans")
    await page.get_by_label("Start URL", exact=True).fill(url)
    await page.get_by_label("Page budget").fill("2")
    await page.get_by_role("button", name="Start scan").click()
    await page.wait_for_url(re.compile(r"/scans/jobs/\d+$"))
    findings = page.get_by_role("link", name="See the findings and what changed")
    await findings.wait_for(timeout=SCAN_TIMEOUT)
    await findings.click()
    await page.get_by_role("heading", name="Before consent and after reject").wait_for()
    return page.url


@pytest.mark.timeout(900)  # two real scans of three passes each, on a shared machine
async def test_map_rescan_and_every_place_says_the_same(
    server: CmpServer, host: HostServer, browser: Browser, shots: Path
) -> None:
    from cmp_server.services import staff

    base = f"http://127.0.0.1:{server.port}"

    async def setup() -> str:
        site, _ = await published_site("Fixture shop", ("127.0.0.1",))
        await staff.create_staff("privacy@shop.example", PASSWORD, "privacy")
        return site.key

    key = await server.call(setup())
    url = shop(host, f"{base}/v1/sites/{key}/cmp.js", version=1)

    desktop = await browser.new_context(viewport=VIEWPORTS["desktop"])  # type: ignore[arg-type]
    errors: list[str] = []
    page = await sign_in(desktop, base, "privacy@shop.example")
    page.on("pageerror", lambda e: errors.append(str(e)))

    # 1. The first scan: nothing classifies fixture_pref, so it is a possible violation.
    await scan(page, base, key, url)
    review = await text_of(page, page.get_by_role("table", name="Possible violations"))
    assert "fixture_pref" in review and "possible violation" in review
    assert "fixture_pref" not in await text_of(
        page, page.get_by_role("table", name="Violations", exact=True))
    classify = await page.get_by_role("link", name="Classify it: fixture_pref").get_attribute(
        "href")

    # 2. Staff map it in the inventory, as they would: Cookies, "To classify", the item.
    await page.get_by_role("link", name="Cookies", exact=True).click()
    quick = page.get_by_role("navigation", name="Quick filters")
    await quick.get_by_role("link", name=re.compile(r"^To classify")).click()
    listed = await text_of(page, "table.inventory")
    assert "fixture_pref" in listed and "classify: seen before consent" in listed
    await page.get_by_role("link", name="fixture_pref", exact=True).click()
    await page.wait_for_url(re.compile(f"/admin/sites/{key}/inventory/\\d+$"))
    assert page.url.endswith(classify or "?")  # the findings' "Classify it" leads here too
    item_url = page.url
    assert "classify: seen before consent" in await text_of(page, "h2.item-title")
    purpose = page.get_by_label("Purpose", exact=True)
    offered = await page.locator("#f-vendor option").all_inner_texts()
    assert not [o for o in offered if "127.0.0.1" in o], offered  # the site is no vendor
    await purpose.select_option(label="Statistics")
    await page.get_by_label("Vendor", exact=True).select_option(
        label="No vendor (the site's own)")
    await page.get_by_label("Review", exact=True).select_option("reviewed")
    await page.get_by_role("button", name="Save", exact=True).click()
    await page.get_by_role("status").filter(has_text="Saved.").wait_for()
    title = await text_of(page, "h2.item-title")
    assert "reviewed" in title and "unreviewed" not in title

    # 3. Scan again.
    findings_url = await scan(page, base, key, url)

    # 4. Every place says the same. The findings: a violation of the site's own, mapped.
    table = page.get_by_role("table", name="Violations", exact=True)
    rows = table.locator("tbody tr")
    names = [re.sub(r"\s+", " ", t) for t in await rows.all_inner_texts()]
    mine = [r for r in names if "fixture_pref" in r]
    assert len(mine) == 1, names
    assert "statistics cookie set before consent (purpose set in the inventory)" in mine[0]
    assert "unclassified" not in mine[0]
    # No vendor: the site's own (so says the column), not the host "127.0.0.1".
    vendor = await rows.filter(has_text="fixture_pref").locator(
        "td[data-label=Vendor]").inner_text()
    assert vendor.strip() == "the site's own", vendor
    assert "_ga" in " ".join(names)  # the tracker still fires before consent
    # Anything else still unclassified is the same number everywhere too; fixture_pref is
    # not among it.
    possible_rows = page.get_by_role("table", name="Possible violations").locator("tbody tr")
    possible = await possible_rows.count()
    assert not [r for r in await possible_rows.all_inner_texts() if "fixture_pref" in r]
    listed_row = page.locator("section[aria-labelledby=items] tbody tr").filter(
        has_text="fixture_pref")
    in_items = await text_of(page, listed_row)
    assert "violation" in in_items and "statistics (reviewed)" in in_items
    assert "possible violation" not in in_items
    listed_vendor = await listed_row.locator("td[data-label=Vendor]").inner_text()
    assert listed_vendor.strip() == "the site's own"
    violations = await rows.count()
    assert await stat(page, "Violations") == violations
    assert await stat(page, "Possible violations") == possible
    change_line = await text_of(page, ".change-line")
    await snap(page, shots, "findings", "desktop")

    # The scans page: the last scan's count and its history row, with the same changes.
    await page.goto(f"{base}/admin/sites/{key}/scans")
    assert await stat(page, "Violations in it") == violations
    assert await stat(page, "Possible violations") == possible
    newest = page.locator("table.scan-history tbody tr").first
    assert int(await newest.locator("td[data-label=Violations]").inner_text()) == violations
    assert int(await newest.locator("td[data-label=Possible]").inner_text()) == possible
    history_line = await text_of(page, newest.locator("td[data-label=Changes]"))
    assert history_line.strip() == change_line.strip(), (history_line, change_line)
    await snap(page, shots, "history", "desktop")

    # The item page flags it a violation.
    await page.goto(item_url)
    title = await text_of(page, "h2.item-title")
    assert "violation" in title and "classify" not in title, title
    assert "its purpose needs consent" in await text_of(page, ".callout")
    await snap(page, shots, "item", "desktop")

    # The inventory's violation filter counts as many items, and lists fixture_pref.
    await page.goto(f"{base}/admin/sites/{key}/inventory")
    quick = page.get_by_role("navigation", name="Quick filters")
    counted = await quick.get_by_role("link", name=re.compile(r"^Violations")).locator(
        ".count").inner_text()
    assert int(counted) == violations
    assert int(await quick.get_by_role("link", name=re.compile(r"^To classify")).locator(
        ".count").inner_text()) == possible
    await quick.get_by_role("link", name=re.compile(r"^Violations")).click()
    assert await page.locator("table.inventory tbody tr").count() == violations
    assert "fixture_pref" in await text_of(page, "table.inventory")
    await snap(page, shots, "inventory", "desktop")

    # The dashboard says the same of the site's last scan.
    await page.goto(f"{base}/admin/")
    card = await text_of(page, f"section[aria-labelledby='site-{key}']")
    said = re.search(r"(\d+) violations?, (\d+) possible", card)
    assert said is not None, card
    assert (int(said[1]), int(said[2])) == (violations, possible), card
    await snap(page, shots, "dashboard", "desktop")
    assert errors == [], errors
    await desktop.close()

    # The same pages on a 320×568 phone: the same numbers, nothing wider than the screen.
    phone = await browser.new_context(viewport=VIEWPORTS["phone"])  # type: ignore[arg-type]
    page = await sign_in(phone, base, "privacy@shop.example")
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(findings_url)
    assert await stat(page, "Violations") == violations
    assert await page.get_by_role("table", name="Violations", exact=True).locator(
        "tbody tr").count() == violations
    await snap(page, shots, "findings", "phone")
    await page.goto(item_url)
    assert "violation" in await text_of(page, "h2.item-title")
    await snap(page, shots, "item", "phone")
    await page.goto(f"{base}/admin/sites/{key}/inventory?flag=violation")
    assert await page.locator("table.inventory tbody tr").count() == violations
    await snap(page, shots, "inventory", "phone")
    await page.goto(f"{base}/admin/")
    assert f"{violations} violation" in await text_of(
        page, f"section[aria-labelledby='site-{key}']")
    await snap(page, shots, "dashboard", "phone")
    await page.goto(f"{base}/admin/sites/{key}/scans")
    await snap(page, shots, "history", "phone")
    assert errors == [], errors
    await phone.close()
