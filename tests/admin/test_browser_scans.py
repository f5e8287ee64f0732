"""Scans in a real Chromium, with the real scanner: a privacy officer signs in, runs a scan of
a local fixture site carrying our real tag, watches its progress, reads its findings and what
fires before consent, scans again after the site changed and reads the changes; the progress
page also without JavaScript. The scans leave no receipt in the site's proof log.

Screenshots of each page, desktop and mobile, go to ``CMP_TEST_SCREENSHOTS`` when set."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page

from ..embed.servers import CmpServer, HostServer, Route, running
from ..factories import PASSWORD, published_site

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "mobile": {"width": 390, "height": 844}}
SCAN_TIMEOUT = 240_000  # ms: three passes of two pages, on a busy machine
JS = "text/javascript"


# The fixture site is on this machine: the server refuses it unless the operator allows.
SERVER_SETTINGS = {"allow_private_scan_targets": True}


@pytest.fixture(scope="module")
def host() -> Iterator[HostServer]:
    h = HostServer()
    with running(h):
        yield h


def shop(host: HostServer, tag: str, *, version: int) -> str:
    """The fixture shop: our tag first in <head>, a tracker that sets _ga before any choice,
    the site's own preference cookie (nothing classifies it), and a marketing pixel held back
    until consent. Version 2: _ga lives 30 days instead of 400, Hotjar arrives (before
    consent, too), the pixel is gone."""
    lifetime = 400 if version == 1 else 30
    host.routes["/track.js"] = Route(
        f'document.cookie = "_ga=GA1.1.42.1700000000; path=/; max-age={lifetime * 86400}";'
        .encode(), JS)
    host.routes["/pixel.js"] = Route(
        b'document.cookie = "_fbp=fb.1.1700000000.42; path=/; max-age=7776000";', JS)
    host.routes["/hotjar.js"] = Route(
        b'document.cookie = "_hjSessionUser_42=eyJpZCI6IjEifQ; path=/; max-age=31536000";', JS)
    head = (
        f'<script src="{tag}"></script><script src="/track.js"></script>'
        + ('<script type="text/plain" data-cmp-category="marketing" src="/pixel.js"></script>'
           if version == 1 else '<script src="/hotjar.js"></script>')
        + '<script src="/prefs.js"></script>'
    )
    host.routes["/prefs.js"] = Route(
        b'document.cookie = "fixture_pref=compact; path=/; max-age=86400";', JS)
    for path, title, other in (("/", "Fixture shop", "/about"), ("/about", "About", "/")):
        host.add(path, f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
                       f"<title>{title}</title>{head}</head><body><h1>{title}</h1>"
                       f'<p><a href="{other}">{"About us" if other == "/about" else "Home"}'
                       "</a></p></body></html>")
    return host.url("/", host="127.0.0.1")


async def sign_in(context: BrowserContext, base: str, email: str) -> Page:
    page = await context.new_page()
    await page.goto(f"{base}/admin/")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="Sites").wait_for()
    return page


async def snap(page: Page, shots: Path, name: str, viewport: str) -> None:
    await page.screenshot(path=shots / f"scans-{name}-{viewport}.png", full_page=True)
    # Nothing wider than the screen: wide tables scroll inside their own box.
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[viewport]["width"], (name, viewport, width)


async def text_of(page: Page, where: str | Locator) -> str:
    found = page.locator(where) if isinstance(where, str) else where
    return re.sub(r"\s+", " ", await found.inner_text())


@pytest.mark.timeout(900)  # two real scans of three passes each, on a shared machine
async def test_run_a_scan_see_what_fires_before_consent_and_what_changed(
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

    # The tag works and records a visitor's choice: the control for "scans record none".
    visitor = await browser.new_context()
    page = await visitor.new_page()
    await page.goto(url)
    await page.get_by_role("button", name="Accept all").click()
    assert len(await server.wait_receipts(key, 1)) == 1
    await visitor.close()

    desktop = await browser.new_context(viewport=VIEWPORTS["desktop"])  # type: ignore[arg-type]
    errors: list[str] = []
    page = await sign_in(desktop, base, "privacy@shop.example")
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{base}/admin/sites/{key}/scans")
    assert "Never" in await text_of(page, ".scan-stats")
    await snap(page, shots, "empty", "desktop")

    # Start the first scan: two pages, all three passes.
    await page.get_by_label("Start URL", exact=True).fill(url)
    await page.get_by_label("Page budget").fill("2")
    for name in ("No choice", "Accept all", "Reject all"):
        assert await page.get_by_role("checkbox", name=re.compile(name)).is_checked()
    await page.get_by_role("button", name="Start scan").click()
    await page.wait_for_url(re.compile(r"/scans/jobs/\d+$"))
    job_url = page.url
    # Progress, polled in place by htmx: pages done out of the budget, and the pass.
    # (the box's heading names the pass too: "Pass 1 of 3: No choice")
    await page.get_by_text(re.compile(r"Pass [123] of 3, ")).wait_for(timeout=SCAN_TIMEOUT)
    running_text = await text_of(page, "#scan-progress")
    # The pass's own pages: the first pass counts against the budget while it finds them.
    assert "Running" in running_text and re.search(
        r"Pass 1 of 3, \d pages? so far \(budget 2\)|Pass [23] of 3, \d of 2 pages", running_text)
    await snap(page, shots, "running", "desktop")
    findings = page.get_by_role("link", name="See the findings and what changed")
    await findings.wait_for(timeout=SCAN_TIMEOUT)
    assert page.url == job_url  # no reload: the box was swapped
    await snap(page, shots, "done", "desktop")
    await findings.click()

    # What fires before consent, with the page, the pass and the script that set it.
    await page.get_by_role("heading", name="Before consent and after reject").wait_for()
    violations = await text_of(page, page.get_by_role("table", name="Violations", exact=True))
    assert "_ga" in violations and "No choice" in violations and "Reject all" in violations
    assert f"{url.rstrip('/')}/track.js" in violations and url in violations
    assert "_fbp" not in violations  # held back until consent: no violation
    review = await text_of(page, page.get_by_role("table", name="Possible violations"))
    assert "fixture_pref" in review
    passes = await text_of(page, ".passes-line")
    assert passes.count("answered through our own banner") == 2, passes
    assert "first scan" in await text_of(page, "section[aria-labelledby=changes]")
    first_scan_url = page.url
    await snap(page, shots, "findings", "desktop")

    # The site changes; scan it again, watched without JavaScript this time.
    shop(host, f"{base}/v1/sites/{key}/cmp.js", version=2)
    await page.goto(f"{base}/admin/sites/{key}/scans")
    # The form offers where the last scan started.
    assert await page.get_by_label("Start URL", exact=True).input_value() == url
    await page.get_by_label("Page budget").fill("2")
    await page.get_by_role("button", name="Start scan").click()
    await page.wait_for_url(re.compile(r"/scans/jobs/\d+$"))
    second_job = page.url
    plain = await browser.new_context(java_script_enabled=False,
                                      viewport=VIEWPORTS["mobile"])  # type: ignore[arg-type]
    no_js = await sign_in(plain, base, "privacy@shop.example")
    await no_js.goto(second_job)
    await no_js.get_by_text(re.compile(r"\d of 2 pages|so far \(budget 2\)")).wait_for(
        timeout=SCAN_TIMEOUT)
    await snap(no_js, shots, "running", "mobile")
    # The page reloads itself (<noscript> refresh) until the scan is done.
    await no_js.get_by_role("link", name="See the findings and what changed").wait_for(
        timeout=SCAN_TIMEOUT)
    await snap(no_js, shots, "done", "mobile")
    await plain.close()

    await page.goto(second_job)
    await page.get_by_role("link", name="See the findings and what changed").click()
    await page.get_by_role("heading", name="What changed since the previous scan").wait_for()
    changes = await text_of(page, "section[aria-labelledby=changes]")
    new = changes[changes.index("New "):changes.index("Changed ")]
    assert "_hjSessionUser_42" in new and "_ga" not in new
    changed = changes[changes.index("Changed "):changes.index("Gone ")]
    assert "_ga" in changed and "duration: 400 days → 30 days" in changed
    assert "_fbp" in changes[changes.index("Gone "):]
    assert "new violation _hjSessionUser_42" in changes
    await page.get_by_role("link", name="the scan of").click()
    assert page.url == first_scan_url
    await page.go_back()
    await snap(page, shots, "changes", "desktop")
    # One click from the new item to its inventory entry, to map it.
    await page.get_by_role("link", name="Map in the inventory: _hjSessionUser_42").click()
    await page.wait_for_url(re.compile(f"/admin/sites/{key}/inventory/\\d+$"))
    await page.get_by_role("heading", name="_hjSessionUser_42").wait_for()

    await page.goto(f"{base}/admin/sites/{key}/scans")
    history = await text_of(page, "table.scan-history")
    assert history.count("done") == 2 and "first scan" in history
    assert "1 new, 1 gone, 1 changed;" in history
    await snap(page, shots, "history", "desktop")

    # A scan that failed says why.
    async def failed() -> int:
        from cmp_server.models import ScanJob, Site

        job = await ScanJob.create(
            site=await Site.get(key=key), options={"start_url": "https://intranet.shop.example/",
                                                   "max_pages": 30, "passes": ["none"]},
            requested_by="schedule", status="failed",
            error="intranet.shop.example resolves to non-public address 10.0.0.7")
        return job.id

    failed_job = f"{base}/admin/sites/{key}/scans/jobs/{await server.call(failed())}"
    await page.goto(failed_job)
    alert = await text_of(page, page.get_by_role("alert"))
    assert "resolves to non-public address 10.0.0.7" in alert
    assert "CMP_ALLOW_PRIVATE_SCAN_TARGETS=true" in await text_of(page, "#scan-progress")
    await snap(page, shots, "failed", "desktop")
    assert errors == [], errors
    await desktop.close()

    # Every page on a phone.
    mobile = await browser.new_context(viewport=VIEWPORTS["mobile"])  # type: ignore[arg-type]
    page = await sign_in(mobile, base, "privacy@shop.example")
    await page.goto(f"{base}/admin/sites/{key}/scans")
    await snap(page, shots, "history", "mobile")
    await page.goto(first_scan_url)
    await snap(page, shots, "findings", "mobile")
    await page.goto(second_job)
    await page.get_by_role("link", name="See the findings and what changed").click()
    await page.get_by_role("heading", name="What changed since the previous scan").wait_for()
    await snap(page, shots, "changes", "mobile")
    await page.goto(failed_job)
    await snap(page, shots, "failed", "mobile")
    await mobile.close()

    # A scan is no visitor: the two scans answered our banner four times, and the proof log
    # still holds only the visitor's receipt.
    assert len(server.receipts(key)) == 1
