"""One truth for an item (``services/scan_truth.py``): a cookie staff map reads the same in
every place, the scan that found it, the next scan, its history line, the dashboard, the
inventory's list and counts and the item's page. Issue 19: a mapped, reviewed cookie came back
"unclassified" with vendor "127.0.0.1"; the scan said "0 violations, 1 possible", the item page
"violation", the dashboard "0 violations"."""

from __future__ import annotations

import html
import re

import httpx
from starlette.applications import Starlette

from cmp_server.models import InventoryItem, Scan, Site
from cmp_server.services import inventory
from cmp_server.services.attention import attention
from cmp_server.services.items import ItemChange, get_item, update_item
from cmp_server.services.scan_findings import scan_detail
from cmp_server.services.scan_history import scan_history, scan_overview
from cmp_server.services.scan_results import store_scan
from scanner import PossibleViolation, ScanReport

from .admin._client import sign_in
from .factories import published_site, staff_member
from .test_scans import item, report

HOST = "127.0.0.1"


def _visit_report() -> ScanReport:
    """What the scanner reports of the site's own cookie on a site served from an IP: nothing
    knows it, the site's own script set it before consent."""
    own = item("visit_id", "unclassified", HOST, domain=HOST, attributed_by="first-party",
               vendor_name=HOST, passes=("none", "accept", "reject"),
               first_seen_url=f"http://{HOST}/")
    possible = tuple(
        PossibleViolation.model_validate({
            "pass": p, "kind": "cookie", "name": "visit_id", "domain": HOST, "vendor": HOST,
            "category": "unclassified", "reason": "unclassified cookie set before consent"})
        for p in ("none", "reject"))
    return report(own, review=possible)


async def _everywhere(site: Site) -> dict[str, object]:
    """What every place says of the site's findings now."""
    last = await Scan.filter(site=site).order_by("-id").first()
    assert last is not None
    detail = await scan_detail(site, str(last.id))
    row = await InventoryItem.get(site=site, name="visit_id")
    listed = (await inventory.list_items(site, inventory.ItemQuery(search="visit_id"))).items
    counts = await inventory.counts(site)
    overview = await scan_overview(site)
    run = (await scan_history(site)).runs[0]
    (dashboard,) = await attention([site])
    found = next(i for i in detail.items if i.item.name == "visit_id")
    return {
        "scan": (len(detail.violations), len(detail.review)),
        "scan counts": (detail.summary.counts["violations"], detail.summary.counts["review"]),
        "scan item": found.finding,
        "item page": (await get_item(site, row.id, history=False)).flag,
        "inventory list": listed[0].flag,
        "inventory counts": (counts.violations, counts.review),
        "overview": (overview.violations, overview.review),
        "history": (run.counts["violations"], run.counts["review"]),
        "dashboard": (dashboard.scans.violations, dashboard.scans.review),
    }


def _agree(said: dict[str, object], finding: str | None) -> None:
    numbers = {"violation": (1, 0), "review": (0, 1), None: (0, 0)}[finding]
    expected: dict[str, object] = {
        "scan": numbers, "scan counts": numbers, "scan item": finding, "item page": finding,
        "inventory list": finding, "inventory counts": numbers, "overview": numbers,
        "history": numbers, "dashboard": numbers,
    }
    assert said == expected


async def _map(site: Site, purpose: str) -> None:
    row = await InventoryItem.get(site=site, name="visit_id").prefetch_related("vendor")
    await update_item(site, row.id, ItemChange(
        name="visit_id", domain=HOST, purpose=purpose,
        vendor=row.vendor.key if row.vendor else None, review_status="reviewed"))


async def test_a_mapped_item_reads_the_same_everywhere_before_and_after_a_rescan(
    app: Starlette,
) -> None:
    site, _ = await published_site()
    first = await store_scan(site, _visit_report())
    # Found, unmapped: a possible violation everywhere, and the site is no vendor suggestion.
    _agree(await _everywhere(site), "review")
    row = await InventoryItem.get(site=site, name="visit_id")
    assert (row.suggested_vendor, row.suggested_vendor_name) == (None, None)
    assert (await get_item(site, row.id)).suggestion.vendor is None  # type: ignore[union-attr]

    # Staff map it to statistics: the stored scan reads as mapped at once, everywhere.
    await _map(site, "statistics")
    _agree(await _everywhere(site), "violation")

    # The next scan knows no more than the first (unclassified, vendor 127.0.0.1): the
    # inventory decides, its violations are violations, not possible ones.
    second = await store_scan(site, _visit_report())
    said = await _everywhere(site)
    _agree(said, "violation")
    detail = await scan_detail(site, str(second.id))
    assert [(f.passes, f.category, f.vendor) for f in detail.violations] == [
        (("none", "reject"), "statistics", site.name)]
    found = next(i for i in detail.items if i.item.name == "visit_id")
    assert (found.verdict.category, found.verdict.by, found.verdict.review_status,
            found.verdict.vendor_name) == ("statistics", "inventory", "reviewed", site.name)
    # Nothing changed on the site between the scans: nothing reads as a change.
    assert detail.changes.empty and second.diff["review_removed"] == []
    assert first.id != second.id

    # Necessary: no violation anywhere.
    await _map(site, "necessary")
    _agree(await _everywhere(site), None)


def _text(page: httpx.Response) -> str:
    assert page.status_code == 200, page.text[:500]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())


async def test_the_admin_pages_say_the_same(app: Starlette, client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    scan = await store_scan(site, _visit_report())
    await _map(site, "statistics")
    member = await staff_member("viewer")
    await sign_in(client, member.email)
    row = await InventoryItem.get(site=site, name="visit_id")
    base = f"/admin/sites/{site.key}"
    found = _text(await client.get(f"{base}/scans/{scan.id}"))
    assert "Violations 1 Possible violations 0" in found
    assert "statistics cookie set before consent (purpose set in the inventory)" in found
    assert "unclassified" not in found and f"Vendor {HOST}" not in found
    assert "1 violation, 0 possible" in _text(await client.get("/admin/"))
    history = _text(await client.get(f"{base}/scans"))
    assert "Violations in it 1 Possible violations 0" in history
    listed = _text(await client.get(f"{base}/inventory"))
    assert "Violations 1 To classify 0" in listed
    page = _text(await client.get(f"{base}/inventory/{row.id}"))
    assert "violation" in page and "classify: seen before consent" not in page
    assert f"Knowledge base: {HOST}" not in page


async def test_the_history_line_and_the_scan_page_count_the_same_changes(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await store_scan(site, _visit_report())
    # The next scan no longer sees the cookie before consent (only after accepting).
    later = item("visit_id", "unclassified", HOST, domain=HOST, attributed_by="first-party",
                 vendor_name=HOST, passes=("accept",), first_seen_url=f"http://{HOST}/")
    second = await store_scan(site, report(later))
    member = await staff_member("viewer")
    await sign_in(client, member.email)
    base = f"/admin/sites/{site.key}"
    line = "0 new, 0 gone, 0 changed; 0 new findings, 2 resolved"
    assert line in _text(await client.get(f"{base}/scans"))
    page = _text(await client.get(f"{base}/scans/{second.id}"))
    assert line in page and "resolved visit_id in No choice" in page
    assert "no longer seen" not in page
