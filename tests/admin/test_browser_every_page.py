"""Every admin page in a real Chromium, at 320, 768 and 1366 px: none wider than the screen,
and axe-core finds nothing on any of them.

The pages are the admin's own GET routes, read from the app (``create_admin(...).routes``), so
a page added later is visited without anyone adding it here; its path parameters come from
``PARAMS``, filled from the data seeded below (a route with a parameter ``PARAMS`` does not
know fails the test, asking for it). Screenshots go to ``CMP_TEST_SCREENSHOTS`` when set."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page
from playwright.async_api import Error as PlaywrightError
from starlette.routing import Route

from ..embed.conftest import AXE
from ..embed.servers import CmpServer
from ..factories import PASSWORD, published_site, send_receipt

pytestmark = pytest.mark.browser

WIDTHS = (320, 768, 1366)
# Pages shown to someone signed out; the rest are visited as an owner.
SIGNED_OUT = {"login", "reset"}
# Extra query for a page that needs one to show what it is for.
QUERY = {"versions_diff": "?a=1&b=2"}


@dataclass(frozen=True)
class Seeded:
    params: dict[str, str]  # path parameter -> value


SERVER_SETTINGS = {"run_worker": False}


def _report(now: datetime) -> Any:
    from scanner import ReportItem, ScanReport

    def item(name: str, category: str, vendor: str | None, **kw: object) -> ReportItem:
        return ReportItem.model_validate({
            "kind": "cookie", "name": name, "domain": "shop.example", "path": "/",
            "party": "first", "vendor": vendor, "category": category, "passes": ("none",),
            "first_seen_url": "https://shop.example/", "set_by": "script", "initiator": None,
            "expires_days": 399.6, "http_only": False, "secure": True, "same_site": "Lax",
            "description": "Tells visitors apart.", **kw,
        })

    return ScanReport(
        start_url="https://shop.example/", started_at=now, finished_at=now, pages=(),
        items=(item("_ga", "statistics", "google_analytics"),
               item("a_rather_long_cookie_name_that_a_platform_sets_for_its_own_reasons",
                    "unclassified", None)),
        requests=(), violations=(), review=(),
    )


@pytest.fixture(scope="module")
async def seeded(server: CmpServer) -> Seeded:
    from cmp_server.models import InventoryItem, ScanSchedule, Staff, Vendor
    from cmp_server.services import drafts, password_reset, publishing, scans, staff, webhooks

    async def make() -> dict[str, str]:
        site, _ = await published_site("Kursgården i Åre", ("shop.example",))
        await staff.create_staff("owner@kurs.example", PASSWORD, "owner")
        viewer = await staff.create_staff("viewer@kurs.example", PASSWORD, "viewer")
        await drafts.edit_texts(site, "en", {"title": "We use cookies, and so do they"})
        await publishing.publish(site)
        scan = await scans.store_run(site, _report(datetime.now(UTC)), max_pages=30,
                                     passes=("none",), run_by="test")
        reset = await password_reset.issue(viewer.id, by=None, link=lambda t: t)
        hook = await webhooks.add_endpoint(site, "http://127.0.0.1:9/consent-events",
                                           ["version.published"], actor=None,
                                           allow_private=True, description="Our CRM")
        schedule = await ScanSchedule.create(
            site=site, start_url="https://shop.example/", passes=["none", "reject"],
            extra_urls=["https://shop.example/checkout"], frequency="weekly", weekday=4,
            next_run_at=datetime(2030, 1, 4, 3, tzinfo=UTC))
        item = await InventoryItem.filter(site=site, name="_ga").first()
        vendor = await Vendor.filter(site=site).first()
        other = await Staff.get(email="viewer@kurs.example")
        assert item is not None and vendor is not None and scan.job_id is not None
        return {
            "key": site.key, "item_id": str(item.id), "vendor_id": str(vendor.id),
            "number": "2", "scan_id": str(scan.id), "job_id": str(scan.job_id),
            "staff_id": str(other.id), "token": reset.url, "endpoint_id": str(hook.id),
            "schedule_id": str(schedule.id),
        }

    params = await server.call(make())
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
        body = await send_receipt(client, params["key"], version=2)
        for method, granted in (("accept_all", True), ("reject_all", False)):
            choices = {p: granted or p == "necessary"
                       for p in ("necessary", "preferences", "statistics", "marketing")}
            await send_receipt(client, params["key"], version=2, method=method, layer="first",
                               choices=choices)
    params |= {"receipt_id": body["receipt_id"], "consent_id": body["consent_id"]}
    return Seeded(params)


# What htmx asks for a part of a page (the appearance editor's checks): checked within the
# page that holds it.
FRAGMENTS = frozenset({"appearance_check"})


def pages(server: CmpServer, params: dict[str, str]) -> list[tuple[str, str]]:
    """(route name, path) of every GET page of the admin."""
    from admin import create_admin

    found = []
    for route in create_admin(server.settings).routes:
        if not isinstance(route, Route) or "GET" not in (route.methods or ()):
            continue
        if route.name in FRAGMENTS:
            continue
        missing = set(route.param_convertors) - set(params)
        assert not missing, f"{route.name}: say in the seed what {missing} should be"
        path = route.url_path_for(route.name, **{k: params[k] for k in route.param_convertors})
        found.append((route.name, f"/admin{path}{QUERY.get(route.name, '')}"))
    assert len(found) > 25, found
    return found


async def signed_in(
    browser: Browser, base: str, width: int, **options: Any
) -> BrowserContext:
    context = await browser.new_context(viewport={"width": width, "height": 800}, **options)
    page = await context.new_page()
    await page.goto(f"{base}/admin/login")
    await page.get_by_label("Email").fill("owner@kurs.example")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="Sites").wait_for()
    await page.close()
    return context


async def visit(page: Page, url: str) -> bool:
    """Open ``url``; whether it is an HTML page (the preview's script is not, nor a file the
    browser downloads, such as a report's PDF)."""
    try:
        response = await page.goto(url)
    except PlaywrightError as exc:
        if "Download is starting" in str(exc):
            return False
        raise
    assert response is not None and response.status == 200, (url, response and response.status)
    return (response.headers.get("content-type") or "").startswith("text/html")


# Every <select> shown whose options do not all fit its box: [name, option, text px, room px].
# The room leaves the padding and the drop-down arrow out (Chromium's is 16 px or less).
CUT_OFF_SELECTS = """() => {
  const found = [];
  const measure = document.createElement('canvas').getContext('2d');
  for (const select of document.querySelectorAll('select')) {
    if (!select.offsetParent) continue;
    const style = getComputedStyle(select);
    measure.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const room = select.clientWidth - parseFloat(style.paddingLeft)
      - parseFloat(style.paddingRight) - 16;
    for (const option of select.options) {
      const text = measure.measureText(option.text).width;
      if (text > room) found.push([select.name, option.text, Math.round(text), room]);
    }
  }
  return found;
}"""
# Boxes that scroll sideways on the page: [class, content width, box width].
SIDEWAYS = """(selector) => Array.from(document.querySelectorAll(selector))
  .filter((box) => box.offsetParent && box.scrollWidth > box.clientWidth + 1)
  .map((box) => [box.className, box.scrollWidth, box.clientWidth])"""
# Pages whose tables are read row by row on a phone: nothing in them scrolls at 320 px.
STACKED_AT_320 = {"consents", "visitor", "audit"}
# A count of one with a plural noun ("1 inventory items"), anywhere in a page's words.
ONE_MANY = re.compile(r"(?<![\d.,])1 (?:[a-z]+ )?(?:items|receipts|pages|cookies|violations|rules"
                      r"|texts|days|hours|vendors|purposes|changes|scans|entries|weeks|tags"
                      r"|accounts|sites|versions|languages|findings|requests|attempts)\b")


async def test_no_admin_page_is_wider_than_the_screen(
    server: CmpServer, seeded: Seeded, browser: Browser, shots: Path
) -> None:
    base = f"http://127.0.0.1:{server.port}"
    wide: list[tuple[str, int, int]] = []
    cut: list[tuple[str, int, list[Any]]] = []
    plurals: list[tuple[str, str]] = []
    sideways: list[tuple[str, list[Any]]] = []
    failed: list[str] = []  # a page's own requests answered 4xx or 5xx (an icon's 404, say)
    for width in WIDTHS:
        inside = await signed_in(browser, base, width)
        outside = await browser.new_context(viewport={"width": width, "height": 800})
        tabs = {False: await inside.new_page(), True: await outside.new_page()}
        for tab in tabs.values():
            tab.on("response", lambda r: failed.append(f"{r.status} {r.url}")
                   if r.status >= 400 else None)
        for name, path in pages(server, seeded.params):
            page = tabs[name in SIGNED_OUT]
            if not await visit(page, base + path):
                continue
            await page.screenshot(path=shots / f"every-{name}-{width}.png", full_page=True)
            scroll = await page.evaluate("document.documentElement.scrollWidth")
            if scroll > width:
                wide.append((name, width, scroll))
            if selects := await page.evaluate(CUT_OFF_SELECTS):
                cut.append((name, width, selects))
            if width == WIDTHS[0]:
                # On a phone: a chart drawn for it (none scrolls), and the log's rows stacked.
                boxes = ".chart-wrap" + (", .table-wrap" if name in STACKED_AT_320 else "")
                if found := await page.evaluate(SIDEWAYS, boxes):
                    sideways.append((name, found))
                words = re.sub(r"\s+", " ", await page.inner_text("body"))
                plurals.extend((name, m[0]) for m in ONE_MANY.finditer(words))
        await inside.close()
        await outside.close()
    assert wide == [], "\n".join(map(str, wide))
    assert cut == [], "\n".join(map(str, cut))
    assert plurals == [], "\n".join(map(str, plurals))
    assert sideways == [], sideways
    assert failed == [], failed


async def axe(page: Page) -> list[dict[str, Any]]:
    assert AXE.exists(), f"{AXE} missing: run `npm ci` in embed/"
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        "axe.run(document, {resultTypes: ['violations']}).then((r) => r.violations.map("
        "(v) => ({id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target)})))"
    )
    return list(result)


async def test_axe_finds_nothing_on_any_admin_page(
    server: CmpServer, seeded: Seeded, browser: Browser
) -> None:
    base = f"http://127.0.0.1:{server.port}"
    found: dict[str, list[dict[str, Any]]] = {}
    for width in (320, 1366):
        # The admin's CSP refuses any script but its own: the test's axe is let in.
        inside = await signed_in(browser, base, width, bypass_csp=True)
        outside = await browser.new_context(viewport={"width": width, "height": 800},
                                            bypass_csp=True)
        tabs = {False: await inside.new_page(), True: await outside.new_page()}
        for name, path in pages(server, seeded.params):
            page = tabs[name in SIGNED_OUT]
            if await visit(page, base + path) and (problems := await axe(page)):
                found[f"{name}@{width}"] = problems
        await inside.close()
        await outside.close()
    assert found == {}, found
