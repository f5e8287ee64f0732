"""Storing a scan: the report, the diff against the previous scan, and the inventory update.

New items are added as unreviewed with the scanner's suggested vendor and purpose; items seen
again get ``last_seen``; items no longer seen are flagged with ``missing_since``.

Violations (a known non-necessary purpose seen before consent or after reject) and possible
violations (``review``: unclassified items seen then) stay apart in the stored report, its
summary and its diff; :func:`scan_summary` hands both to the admin and the CLI, with each
inventory key's finding, so a list can show "violation" and "classify it" side by side.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, TypeAdapter
from tortoise import connections
from tortoise.transactions import in_transaction

from scanner import PossibleViolation, ReportItem, ScanLimits, ScanReport, limit_report
from scanner.kb import KnowledgeBase

from .. import db
from ..models import InventoryItem, Scan, ScanJob, Site
from . import events
from .scan_inventory import InventoryCounts, update_inventory
from .scan_truth import (
    Judged,
    Judgement,
    Kept,
    Keyed,
    Same,
    SiteInventory,
    count_findings,
    judge,
    judge_report,
    load_inventory,
    sightings_of,
)

__all__ = [
    "CHANGED_FIELDS",
    "InventoryCounts",
    "InventoryIndex",
    "ReportDiff",
    "ScanSummary",
    "changed_items",
    "diff_reports",
    "finding_key",
    "inventory_match",
    "item_key",
    "latest_scan_summary",
    "load_report",
    "read_report",
    "scan_summary",
    "store_scan",
    "stored_summary",
]

Finding = Literal["violation", "review"]


def _item_key(item: ReportItem) -> str:
    return item_key(item.kind, item.name, item.domain)


def finding_key(v: Keyed) -> str:
    """A violation's or possible violation's key in a diff: ``reject:cookie:_ga@.shop.se``."""
    return f"{v.pass_}:{v.kind}:{v.name}@{v.domain}"


def item_key(kind: str, name: str, domain: str) -> str:
    """The key an inventory row and a finding share: ``cookie:_ga@.shop.example``."""
    return f"{kind}:{name}@{domain}"


class InventoryIndex:
    """The inventory rows an item a scan found counts as, looked up without walking every
    row per item: the exact name first, else the first prefix (``_ga_`` covers
    ``_ga_ABC123``), as :func:`store_scan` decides."""

    def __init__(self, rows: Iterable[InventoryItem]) -> None:
        self._exact: dict[tuple[str, str], InventoryItem] = {}
        self._prefixes: dict[str, list[InventoryItem]] = {}
        for row in rows:
            if row.match == "prefix":
                self._prefixes.setdefault(row.kind, []).append(row)
            elif row.match == "exact":
                self._exact.setdefault((row.kind, row.name), row)

    def match(self, kind: str, name: str) -> InventoryItem | None:
        return self._exact.get((kind, name)) or next(
            (r for r in self._prefixes.get(kind, ()) if name.startswith(r.name)), None)


def inventory_match(
    rows: Iterable[InventoryItem], kind: str, name: str
) -> InventoryItem | None:
    """One item's row (:class:`InventoryIndex` for many items)."""
    return InventoryIndex(rows).match(kind, name)


# What a reviewer mapped an item by: when one of these changes, its inventory entry (vendor,
# duration, first or third party) may be wrong now.
CHANGED_FIELDS = ("vendor", "duration_days", "party")


def _same_duration(a: float | None, b: float | None) -> bool:
    # A cookie's remaining lifetime is measured at the scan: the same Max-Age reads a few
    # seconds apart. A day or more apart, or a session cookie becoming persistent, is a change.
    if a is None or b is None:
        return a is b
    return abs(a - b) < 1


def changed_items(
    previous: ScanReport | None, current: ScanReport
) -> dict[str, dict[str, tuple[Any, Any]]]:
    """Items in both reports whose vendor, duration or party differ: ``{item key: {field:
    (before, after)}}`` (durations in days, ``None`` for a session cookie or storage)."""
    before = {_item_key(x): x for x in (previous.items if previous else ())}
    changed: dict[str, dict[str, tuple[Any, Any]]] = {}
    for item in current.items:
        key = _item_key(item)
        old = before.get(key)
        if old is None:
            continue
        fields: dict[str, tuple[Any, Any]] = {}
        if old.vendor != item.vendor:
            fields["vendor"] = (old.vendor, item.vendor)
        if not _same_duration(old.expires_days, item.expires_days):
            fields["duration_days"] = (old.expires_days, item.expires_days)
        if old.party != item.party:
            fields["party"] = (old.party, item.party)
        if fields:
            changed[key] = fields
    return dict(sorted(changed.items()))


class ReportDiff(BaseModel):
    """What appeared and disappeared since the previous report, by key: items
    (:func:`item_key`), tracker hosts, violations and possible ones (pass, kind, name,
    domain); ``items_changed``: the keys :func:`changed_items` finds. Stored with the scan;
    diffs stored before a field existed read it as empty."""

    model_config = ConfigDict(frozen=True)
    previous_scan: bool = True
    items_added: list[str] = []
    items_removed: list[str] = []
    items_changed: list[str] = []
    requests_added: list[str] = []
    requests_removed: list[str] = []
    violations_added: list[str] = []
    violations_removed: list[str] = []
    review_added: list[str] = []
    review_removed: list[str] = []
    inventory: InventoryCounts | None = None


def diff_reports(
    previous: ScanReport | None, current: ScanReport, inventory: SiteInventory | None = None,
    *, judged: tuple[Judgement, Judgement] | None = None,
) -> ReportDiff:
    """``previous`` None: the site's first scan. Both as :func:`read_report` reads them; their
    findings judged through ``inventory`` (None: the knowledge base's word alone), both alike,
    so a finding changes only when what the site does changed (``judged``: the previous
    report's and the current one's violations and possible violations, when the caller
    judged them through the same inventory already)."""

    def delta(before: Iterable[str], after: Iterable[str]) -> tuple[list[str], list[str]]:
        a, b = set(before), set(after)
        return sorted(b - a), sorted(a - b)

    old = previous or current.model_copy(update={
        "items": (), "requests": (), "violations": (), "review": ()
    })
    items = delta(map(_item_key, old.items), map(_item_key, current.items))
    requests = delta((r.host for r in old.requests), (r.host for r in current.requests))
    if judged is None:
        known = inventory or SiteInventory(())
        judged = judge_report(old, known), judge_report(current, known)
    (old_violations, old_review), (new_violations, new_review) = judged
    violations = delta(map(finding_key, old_violations), map(finding_key, new_violations))
    review = delta(map(finding_key, old_review), map(finding_key, new_review))
    return ReportDiff(
        previous_scan=previous is not None,
        items_added=items[0], items_removed=items[1],
        items_changed=list(changed_items(previous, current)),
        requests_added=requests[0], requests_removed=requests[1],
        violations_added=violations[0], violations_removed=violations[1],
        review_added=review[0], review_removed=review[1],
    )


# Past this many items a report's items are validated a slice at a time (_parse_report).
_ITEMS_AT_ONCE = 500
_ITEMS: TypeAdapter[list[ReportItem]] = TypeAdapter(list[ReportItem])


def _parse_report(text: str) -> ScanReport:
    """The report, parsed. One ``model_validate_json`` of a 10,000-item report holds the
    interpreter's lock for 80-250 ms in one C call, and every receipt waits it out, in
    whichever thread it runs; its items validated ``_ITEMS_AT_ONCE`` at a time give the lock
    up between slices."""
    if len(text) < 200_000:  # a few hundred items: one call is short
        return ScanReport.model_validate_json(text)
    data = orjson.loads(text)
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list) or len(items) <= _ITEMS_AT_ONCE:
        return ScanReport.model_validate(data)
    head = ScanReport.model_validate({**data, "items": []})
    parsed: list[ReportItem] = []
    for start in range(0, len(items), _ITEMS_AT_ONCE):
        parsed.extend(_ITEMS.validate_python(items[start:start + _ITEMS_AT_ONCE]))
    # Validated, each: the report as model_validate would have made it.
    return head.model_copy(update={"items": tuple(parsed)})


def read_report(scan: Scan) -> ScanReport:
    """A stored scan's report, its findings as :func:`scan_summary` reads them (a report
    stored before ``review`` existed has its unclassified violations read as possible
    ones, which is what they were)."""
    report = _parse_report(scan.report)
    if report.review:
        return report
    return report.model_copy(update={
        "violations": tuple(v for v in report.violations if v.category != "unclassified"),
        "review": tuple(
            PossibleViolation.model_validate(v.model_dump())
            for v in report.violations if v.category == "unclassified"
        ),
    })


# The last few reports read, by scan id: a stored report never changes, and reading a big one
# (parsing megabytes of JSON into models) costs more than a page view should. Shared by the
# event loop and the threads it reads in.
_REPORTS: Kept[int, ScanReport] = Kept(4)


async def load_report(scan: Scan) -> ScanReport:
    """A stored scan's report as :func:`read_report` reads it, parsed off the event loop
    and kept for the next read. ``scan`` may be loaded without its ``report`` column
    (``.only("id", ...)``): it is fetched only when the report is not kept already."""
    cached = _REPORTS.get(scan.id, ())
    if cached is not None:
        return cached
    text = await Scan.filter(id=scan.id).values_list("report", flat=True)
    if not text:
        raise LookupError(f"no scan {scan.id}")
    row = Scan(id=scan.id, report=text[0])
    report = await asyncio.to_thread(read_report, row)
    _REPORTS.put(scan.id, (), report)
    return report


async def stored_summary(scan_id: int) -> dict[str, Any]:
    """A stored scan's summary without its sightings (one row per item and pass: 30,000 for
    the hostile page's 10,000 items), for ``scan_summary``'s counts. Read as text and parsed
    off the event loop when it is long: Tortoise would parse the JSON column on the loop."""
    mark = db.dialect().placeholder(1)
    _, rows = await connections.get("default").execute_query(
        f"SELECT summary FROM scan WHERE id = {mark}", [scan_id])
    stored = rows[0][0] if rows else None

    def parse() -> dict[str, Any]:
        data = orjson.loads(stored) if isinstance(stored, str | bytes) else stored
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if k != "sightings"}

    long = isinstance(stored, str | bytes) and len(stored) > 50_000
    return await asyncio.to_thread(parse) if long else parse()


def _summary(report: ScanReport, inventory: SiteInventory) -> dict[str, Any]:
    categories: dict[str, int] = {}
    for item in report.items:
        categories[item.category] = categories.get(item.category, 0) + 1
    sightings = sightings_of(report)
    violations, review = judge(sightings, inventory)
    return {
        "pages": len({p.url for p in report.pages}),
        "failed_pages": sum(1 for p in report.pages if p.error),
        "items": len(report.items),
        "trackers": len(report.requests),
        # Distinct items and tracker hosts, judged through the inventory when stored; read
        # through it again when shown (scan_history), from the sightings kept here.
        "violations": count_findings(violations),
        "review": count_findings(review),  # possible violations: nothing classifies them
        "refused_writes": len(report.refused_writes),
        "categories": categories,
        "sightings": [s.row() for s in sightings],
    }


@dataclass(frozen=True, slots=True)
class ScanSummary:
    """One stored scan, its findings judged through the inventory (``scan_truth``) and kept
    apart: ``violations`` are of a purpose that needs consent, ``review`` are items nothing
    classifies, seen in the ``none`` or ``reject`` pass."""

    scan_id: int
    finished_at: datetime
    counts: Mapping[str, Any]
    violations: tuple[Judged, ...]
    review: tuple[Judged, ...]
    # item_key(kind, name, domain) -> "violation" or "review"; a violation wins for an item
    # that is both (a request host never is)
    findings: Mapping[str, Finding]

    def finding(self, kind: str, name: str, domain: str) -> Finding | None:
        return self.findings.get(item_key(kind, name, domain))


def scan_summary(
    scan: Scan, inventory: SiteInventory, report: ScanReport | None = None
) -> ScanSummary:
    """Read a stored scan's findings through the site's inventory (``report``: the scan's,
    already read). ``counts``: the stored summary, its violations and possible violations
    as judged now (distinct items and tracker hosts)."""
    report = report or read_report(scan)
    key = (scan.id, id(report), inventory.entries)
    kept = _SUMMARIES.get(key, (report,))
    if kept is not None:
        return kept
    violations, review = judge_report(report, inventory)
    findings: dict[str, Finding] = {}
    for possible in review:
        findings[item_key(possible.kind, possible.name, possible.domain)] = "review"
    for violation in violations:
        findings[item_key(violation.kind, violation.name, violation.domain)] = "violation"
    counts = {k: v for k, v in (scan.summary or {}).items() if k != "sightings"}
    counts["violations"], counts["review"] = count_findings(violations), count_findings(review)
    return _SUMMARIES.put(
        key, (report,), ScanSummary(scan.id, scan.finished_at, counts, violations, review,
                                    findings))


# A stored scan's summary never changes: a summary is its report judged through an inventory.
_SUMMARIES: Kept[tuple[int, int, Same], ScanSummary] = Kept(4)


async def latest_scan_summary(site: Site) -> ScanSummary | None:
    scan = await Scan.filter(site=site).order_by("-finished_at", "-id").only(
        "id", "site_id", "finished_at", "summary").first()
    if scan is None:
        return None
    report, inventory = await load_report(scan), await load_inventory(site.id)
    return await asyncio.to_thread(scan_summary, scan, inventory, report)


async def store_scan(
    site: Site,
    report: ScanReport,
    *,
    job: ScanJob | None = None,
    kb: KnowledgeBase | None = None,
    limits: ScanLimits | None = None,
    on_batch: Callable[[], None] | None = None,
) -> Scan:
    """Store a scan: the inventory's update, then the scan with its summary and its diff
    against the site's previous scan. ``limits``: the report is cut to them first (a report
    made elsewhere, or by an older scanner).

    Nothing holds the database long (``scan_inventory``): the inventory is written in short
    transactions, the report's JSON, the diff and the summary are made off the event loop,
    and the scan row is one insert. ``on_batch`` is called after each transaction."""
    if limits is not None:
        report = await asyncio.to_thread(limit_report, report, limits)
    kb = kb or KnowledgeBase.builtin()
    previous = await Scan.filter(site=site).order_by("-finished_at", "-id").only(
        "id", "site_id").first()
    counts = await update_inventory(site, report, kb, on_batch)
    # Judged through the inventory as this scan left it, as every later read judges.
    inventory = await load_inventory(site.id)
    before = await load_report(previous) if previous is not None else None

    def prepare() -> tuple[str, dict[str, Any], ReportDiff]:
        diff = diff_reports(before, report, inventory).model_copy(update={"inventory": counts})
        return report.model_dump_json(), _summary(report, inventory), diff

    body, summary, diff = await asyncio.to_thread(prepare)
    async with in_transaction():
        scan = await Scan.create(
            site=site,
            job=job,
            started_at=report.started_at,
            finished_at=report.finished_at,
            report=body,
            summary=summary,
            diff=diff.model_dump(mode="json"),
        )
        await _announce(site, scan, diff, counts)
    if on_batch is not None:
        on_batch()
    _REPORTS.put(scan.id, (), report)
    return scan


async def _announce(site: Site, scan: Scan, diff: ReportDiff, counts: InventoryCounts) -> None:
    """The ``scan.findings`` event, when the scan found something new to act on."""
    new = {
        "new_inventory_items": counts.added,
        "new_items": len(diff.items_added),
        "new_violations": len(diff.violations_added),
        "new_to_review": len(diff.review_added),
    }
    if any(new.values()):
        await events.emit(site, "scan.findings", {
            "scan": scan.id, **new,
            "violations": diff.violations_added[:20],
            "admin_path": f"/admin/sites/{site.key}/scans/{scan.id}",
        })
