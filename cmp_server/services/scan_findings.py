"""One stored scan's findings, and what changed since the scan before it.

Each violation and possible violation comes with the pass and the page it was seen on and,
for an item, the script (or HTTP response) that set it where the scanner knew, and the blocking
rule that failed to hold it back, or that none exists (``scan_blocking``). Each item comes
with the inventory entry it counts as, so that a new one is one click from being mapped.

The changes are computed from the two stored reports when read (``diff_reports`` and
``changed_items``, as ``store_scan`` does), so scans stored before an item's changes were
kept in the diff read alike.

A scanned site decides how long these lists are: the page shows each a page at a time
(``Paged``, ``PAGE_SIZE`` rows), and the reading and judging run off the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from tortoise.expressions import Q

from scanner import Page, ReportItem, ScanReport, TrackerRequest

from ..errors import NotFound
from ..models import Scan, ScanJob, Site
from .scan_blocking import (
    BlockingProof,
    LiveRules,
    RuleCheck,
    blocking_proof,
    check_rule,
    live_rules,
)
from .scan_history import parse_id
from .scan_results import (
    ScanSummary,
    changed_items,
    diff_reports,
    finding_key,
    item_key,
    load_report,
    scan_summary,
    stored_summary,
)
from .scan_truth import (
    Judged,
    Kept,
    Same,
    SiteInventory,
    Verdict,
    load_inventory,
    verdict,
)

__all__ = [
    "FieldChange",
    "Finding",
    "FoundItem",
    "ItemChange",
    "PAGE_SIZE",
    "Paged",
    "ScanChanges",
    "ScanDetail",
    "latest_changes",
    "scan_changes",
    "scan_detail",
]


@dataclass(frozen=True, slots=True)
class Finding:
    """A violation (or a possible one) as staff read it."""

    pass_: str
    kind: str  # cookie | localStorage | sessionStorage | indexedDB | request
    name: str
    domain: str
    vendor: str | None  # the vendor's name (staff's, else the knowledge base's), else its key
    category: str  # staff's purpose key, else the knowledge base's category
    reason: str
    page: str | None  # the page it was seen on
    set_by: str | None  # script | http | unknown for an item; None for a request
    source: str | None  # the script or response that set it, or the request's URL
    inventory_id: int | None
    rule: RuleCheck | None = None  # the blocking rule that failed, or that none exists
    passes: tuple[str, ...] = ()  # every pass it was seen in (none, reject): one row per item
    by: str | None = None  # "inventory": staff classified it (no vendor: the site's own)


@dataclass(frozen=True, slots=True)
class FoundItem:
    item: ReportItem
    finding: str | None  # "violation" | "review" | None
    inventory_id: int | None
    verdict: Verdict  # its purpose and vendor: staff's first, else the knowledge base's


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str  # vendor | duration_days | party
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class ItemChange:
    item: ReportItem  # as this scan saw it (a gone item: as the previous scan did)
    inventory_id: int | None
    fields: tuple[FieldChange, ...] = ()


@dataclass(frozen=True, slots=True)
class ScanChanges:
    scan_id: int
    previous_scan_id: int | None
    previous_finished_at: datetime | None
    new_items: tuple[ItemChange, ...]
    gone_items: tuple[ItemChange, ...]
    changed_items: tuple[ItemChange, ...]
    new_requests: tuple[TrackerRequest, ...]
    gone_requests: tuple[TrackerRequest, ...]
    new_violations: tuple[Judged, ...]
    resolved_violations: tuple[Judged, ...]
    new_review: tuple[Judged, ...]
    resolved_review: tuple[Judged, ...]

    @property
    def first(self) -> bool:
        return self.previous_scan_id is None

    @property
    def empty(self) -> bool:
        return not any((self.new_items, self.gone_items, self.changed_items, self.new_requests,
                        self.gone_requests, self.new_violations, self.resolved_violations,
                        self.new_review, self.resolved_review))


PAGE_SIZE = 50
T = TypeVar("T")
S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Paged(Generic[T]):
    """One page of a list: ``rows`` are page ``number`` (from 1) of ``pages``, of ``total``."""

    rows: tuple[T, ...]
    total: int
    number: int
    pages: int

    @classmethod
    def of(cls, rows: Sequence[T], number: int, size: int = PAGE_SIZE) -> Paged[T]:
        return cls.built(rows, number, lambda row: row, size)

    @classmethod
    def built(
        cls, rows: Sequence[S], number: int, make: Callable[[S], T], size: int = PAGE_SIZE
    ) -> Paged[T]:
        """Page ``number`` of ``rows``, only that page's rows made into what it shows (a
        10,000-item scan judges and builds 50 of them, not 10,000)."""
        pages = max(1, -(-len(rows) // size))
        number = min(max(number, 1), pages)
        start = (number - 1) * size
        return cls(tuple(make(row) for row in rows[start:start + size]), len(rows), number,
                   pages)

    def __bool__(self) -> bool:
        return self.total > 0

    def __iter__(self) -> Any:
        return iter(self.rows)

    def __len__(self) -> int:
        return self.total


# The lists of a scan's page, each paged on its own (``scan_detail``'s ``pages``).
PAGED_LISTS = ("violations", "review", "items", "requests", "new", "changed", "gone",
               "failed", "blocked", "waited")


@dataclass(frozen=True, slots=True)
class ScanDetail:
    scan_id: int
    job_id: int | None
    requested_by: str | None
    max_pages: int | None
    report: ScanReport
    summary: ScanSummary
    violations: Paged[Finding]
    review: Paged[Finding]
    items: Paged[FoundItem]
    requests: Paged[TrackerRequest]
    failed_pages: Paged[Page]
    blocked: Paged[str]  # what the public-only proxy refused (report.blocked)
    changes: ScanChanges
    new_items: Paged[ItemChange]
    changed: Paged[ItemChange]
    gone_items: Paged[ItemChange]
    blocking: BlockingProof  # what waited for consent, what still fired
    waited: Paged[Any]  # blocking.resources, paged

    @property
    def page_count(self) -> int:
        return len({p.url for p in self.report.pages})


@dataclass(frozen=True, slots=True)
class _Read:
    """A stored scan read once: the report (findings as ``read_report`` reads them) and its
    summary."""

    scan: Scan
    report: ScanReport
    summary: ScanSummary


async def _read(scan: Scan, inventory: SiteInventory) -> _Read:
    report = await load_report(scan)
    summary = await asyncio.to_thread(scan_summary, scan, inventory, report)
    return _Read(scan, report, summary)


# The report itself is read through load_report, which keeps it, and the summary through
# stored_summary, off the event loop: not with the row (nor the stored diff, unused here).
_ROW = ("id", "site_id", "job_id", "started_at", "finished_at")


async def _with_summary(scan: Scan | None) -> Scan | None:
    if scan is not None:
        scan.summary = await stored_summary(scan.id)
    return scan


async def _scan_of(site: Site, scan_id: object) -> Scan:
    scan = await Scan.filter(id=parse_id(scan_id, "scan"), site=site).only(*_ROW).first()
    if scan is None:
        raise NotFound(f"no scan {scan_id} for this site")
    await _with_summary(scan)
    return scan


async def _previous(scan: Scan) -> Scan | None:
    """The scan stored before it, as ``store_scan`` chose the one to diff against."""
    return await _with_summary(
        await Scan.filter(
            Q(finished_at__lt=scan.finished_at)
            | Q(finished_at=scan.finished_at, id__lt=scan.id),
            site_id=scan.site_id,  # type: ignore[attr-defined]
        )
        .order_by("-finished_at", "-id")
        .only(*_ROW)
        .first()
    )


def _id_of(inventory: SiteInventory, kind: str, name: str) -> int | None:
    entry = inventory.entry(kind, name)
    return entry.id if entry is not None else None


def _key(item: ReportItem) -> str:
    return item_key(item.kind, item.name, item.domain)


# What changed between two stored reports, through an inventory: kept for the next view.
_CHANGES: Kept[tuple[int, int | None, Same], ScanChanges] = Kept(4)


def _changes(current: _Read, previous: _Read | None, inventory: SiteInventory) -> ScanChanges:
    before = previous.report if previous else None
    key = (id(current.report), id(before) if before else None, inventory.entries)
    anchors = (current.report, before)
    kept = _CHANGES.get(key, anchors)
    if kept is None:
        kept = _CHANGES.put(key, anchors, _changed(current, previous, inventory))
    return kept


def _changed(current: _Read, previous: _Read | None, inventory: SiteInventory) -> ScanChanges:
    before = previous.report if previous else None
    old = previous.summary if previous else None
    # Both reports were judged through this inventory already (their summaries).
    diff = diff_reports(before, current.report, inventory, judged=(
        (old.violations, old.review) if old else ((), ()),
        (current.summary.violations, current.summary.review)))
    changed = changed_items(before, current.report)
    now = {_key(i): i for i in current.report.items}
    then = {_key(i): i for i in previous.report.items} if previous else {}

    def items(keys: list[str], source: dict[str, ReportItem]) -> tuple[ItemChange, ...]:
        return tuple(
            ItemChange(source[k], _id_of(inventory, source[k].kind, source[k].name),
                       tuple(FieldChange(f, a, b) for f, (a, b) in changed.get(k, {}).items()))
            for k in keys if k in source
        )

    def requests(keys: list[str], report: ScanReport | None) -> tuple[TrackerRequest, ...]:
        by_host = {r.host: r for r in report.requests} if report else {}
        return tuple(by_host[k] for k in keys if k in by_host)

    def findings(keys: list[str], found: Iterable[Any]) -> tuple[Any, ...]:
        by_key = {finding_key(f): f for f in found}
        return tuple(by_key[k] for k in keys if k in by_key)

    return ScanChanges(
        scan_id=current.scan.id,
        previous_scan_id=previous.scan.id if previous else None,
        previous_finished_at=previous.scan.finished_at if previous else None,
        new_items=items(diff.items_added, now),
        gone_items=items(diff.items_removed, then),
        changed_items=items(diff.items_changed, now),
        new_requests=requests(diff.requests_added, current.report),
        gone_requests=requests(diff.requests_removed, previous.report if previous else None),
        new_violations=findings(diff.violations_added, current.summary.violations),
        resolved_violations=findings(diff.violations_removed, old.violations if old else ()),
        new_review=findings(diff.review_added, current.summary.review),
        resolved_review=findings(diff.review_removed, old.review if old else ()),
    )


def _findings(
    found: Iterable[Judged], report: ScanReport, live: LiveRules,
    items: Mapping[str, ReportItem], number: int,
) -> Paged[Finding]:
    """Page ``number`` of the findings: one per item or tracker host (as the counts and the
    inventory count them), with the passes it was seen in; the first pass's page and
    reason."""
    hosts = {r.host: r for r in report.requests}
    grouped: dict[tuple[str, str, str], list[Judged]] = {}
    for f in found:
        grouped.setdefault((f.kind, f.name, f.domain), []).append(f)

    def finding(group: list[Judged]) -> Finding:
        f = group[0]
        passes = tuple(dict.fromkeys(g.pass_ for g in group))
        if f.kind == "request":
            req = hosts.get(f.name)
            return Finding(
                f.pass_, f.kind, f.name, f.domain,
                f.vendor_name or (req.vendor_name if req else None) or f.vendor, f.category,
                f.reason, page=req.first_seen_url if req else None, set_by=None, source=f.url,
                inventory_id=None, rule=check_rule(f, report, live, items), passes=passes,
            )
        item = items.get(item_key(f.kind, f.name, f.domain))
        return Finding(
            f.pass_, f.kind, f.name, f.domain, f.vendor_name or f.vendor, f.category, f.reason,
            page=f.url or (item.first_seen_url if item else None),
            set_by=item.set_by if item else None,
            source=item.initiator if item else None,
            inventory_id=f.inventory_id, rule=check_rule(f, report, live, items), passes=passes,
            by=f.by,
        )

    return Paged.built(list(grouped.values()), number, finding)


def _found(item: ReportItem, summary: ScanSummary, inventory: SiteInventory) -> FoundItem:
    v = verdict(inventory, item.kind, item.name, item.category, item.vendor, item.vendor_name)
    return FoundItem(item, summary.finding(item.kind, item.name, item.domain), v.inventory_id,
                     v)


async def scan_changes(site: Site, scan_id: object) -> ScanChanges:
    """What changed between the site's scan ``scan_id`` and the scan before it."""
    scan = await _scan_of(site, scan_id)
    previous = await _previous(scan)
    inventory = await load_inventory(site.id)
    current = await _read(scan, inventory)
    before = await _read(previous, inventory) if previous else None
    return await asyncio.to_thread(_changes, current, before, inventory)


async def latest_changes(site: Site) -> ScanChanges | None:
    """The changes the site's last scan found (None: never scanned)."""
    last = await Scan.filter(site=site).order_by("-finished_at", "-id").only("id").first()
    return await scan_changes(site, last.id) if last is not None else None


async def scan_detail(
    site: Site, scan_id: object, pages: Mapping[str, int] | None = None
) -> ScanDetail:
    """One scan of the site: its findings, every item and request, and its changes, each
    list a page at a time (``pages``: the page of each of ``PAGED_LISTS`` to show, 1 when
    not given)."""
    scan = await _scan_of(site, scan_id)
    previous = await _previous(scan)
    inventory = await load_inventory(site.id)
    current = await _read(scan, inventory)
    before = await _read(previous, inventory) if previous else None
    job = await ScanJob.get_or_none(id=scan.job_id) if scan.job_id else None  # type: ignore[attr-defined]
    budget = job.options.get("max_pages") if job else None
    live = await live_rules(site, scan.finished_at)
    wanted = dict(pages or {})

    def page(name: str) -> int:
        return wanted.get(name, 1)

    def build() -> ScanDetail:
        report = current.report
        changes = _changes(current, before, inventory)
        proof = blocking_proof(report, current.summary.violations, live)
        by_key = {_key(i): i for i in report.items}
        return ScanDetail(
            scan_id=scan.id,
            job_id=job.id if job else None,
            requested_by=job.requested_by if job else None,
            max_pages=budget if isinstance(budget, int) else None,
            report=report,
            summary=current.summary,
            violations=_findings(current.summary.violations, report, live, by_key,
                                 page("violations")),
            review=_findings(current.summary.review, report, live, by_key, page("review")),
            items=Paged.built(report.items, page("items"),
                              lambda i: _found(i, current.summary, inventory)),
            requests=Paged.of(report.requests, page("requests")),
            failed_pages=Paged.of([p for p in report.pages if p.error], page("failed")),
            blocked=Paged.of(report.blocked, page("blocked")),
            changes=changes,
            new_items=Paged.of(changes.new_items, page("new")),
            changed=Paged.of(changes.changed_items, page("changed")),
            gone_items=Paged.of(changes.gone_items, page("gone")),
            blocking=proof,
            waited=Paged.of(proof.resources, page("waited")),
        )

    # Judging and matching every finding and item: off the event loop.
    return await asyncio.to_thread(build)
