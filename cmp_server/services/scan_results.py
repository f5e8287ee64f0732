"""Storing a scan: the report, the diff against the previous scan, and the inventory update.

New items are added as unreviewed with the scanner's suggested vendor and purpose; items seen
again get ``last_seen``; items no longer seen are flagged with ``missing_since``.

Violations (a known non-necessary purpose seen before consent or after reject) and possible
violations (``review``: unclassified items seen then) stay apart in the stored report, its
summary and its diff; :func:`scan_summary` hands both to the admin and the CLI, with each
inventory key's finding, so a list can show "violation" and "classify it" side by side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from tortoise.transactions import in_transaction

from scanner import PossibleViolation, ReportItem, ScanReport
from scanner.kb import KnowledgeBase

from .._utils import utcnow
from ..models import InventoryItem, Purpose, Scan, ScanJob, Site, Vendor
from . import events, translations
from .scan_truth import (
    Judged,
    Keyed,
    SiteInventory,
    count_findings,
    judge,
    load_inventory,
    sightings_of,
)

__all__ = [
    "CHANGED_FIELDS",
    "InventoryCounts",
    "ReportDiff",
    "ScanSummary",
    "changed_items",
    "diff_reports",
    "finding_key",
    "inventory_match",
    "item_key",
    "latest_scan_summary",
    "read_report",
    "scan_summary",
    "store_scan",
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


def inventory_match(
    rows: Iterable[InventoryItem], kind: str, name: str
) -> InventoryItem | None:
    """The inventory row an item a scan found counts as: the exact name first, else a prefix
    (``_ga_`` covers ``_ga_ABC123``), as :func:`store_scan` decides."""
    candidates = [r for r in rows if r.kind == kind]
    return next(
        (r for r in candidates if r.match == "exact" and r.name == name), None
    ) or next((r for r in candidates if r.match == "prefix" and name.startswith(r.name)), None)


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


class InventoryCounts(BaseModel):
    model_config = ConfigDict(frozen=True)
    added: int
    seen: int
    missing: int


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
    previous: ScanReport | None, current: ScanReport, inventory: SiteInventory | None = None
) -> ReportDiff:
    """``previous`` None: the site's first scan. Both as :func:`read_report` reads them; their
    findings judged through ``inventory`` (None: the knowledge base's word alone), both alike,
    so a finding changes only when what the site does changed."""

    def delta(before: Iterable[str], after: Iterable[str]) -> tuple[list[str], list[str]]:
        a, b = set(before), set(after)
        return sorted(b - a), sorted(a - b)

    old = previous or current.model_copy(update={
        "items": (), "requests": (), "violations": (), "review": ()
    })
    items = delta(map(_item_key, old.items), map(_item_key, current.items))
    requests = delta((r.host for r in old.requests), (r.host for r in current.requests))
    known = inventory or SiteInventory(())
    old_violations, old_review = judge(sightings_of(old), known)
    new_violations, new_review = judge(sightings_of(current), known)
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


def read_report(scan: Scan) -> ScanReport:
    """A stored scan's report, its findings as :func:`scan_summary` reads them (a report
    stored before ``review`` existed has its unclassified violations read as possible
    ones, which is what they were)."""
    report = ScanReport.model_validate_json(scan.report)
    if report.review:
        return report
    return report.model_copy(update={
        "violations": tuple(v for v in report.violations if v.category != "unclassified"),
        "review": tuple(
            PossibleViolation.model_validate(v.model_dump())
            for v in report.violations if v.category == "unclassified"
        ),
    })


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
    violations, review = judge(sightings_of(report), inventory)
    findings: dict[str, Finding] = {}
    for possible in review:
        findings[item_key(possible.kind, possible.name, possible.domain)] = "review"
    for violation in violations:
        findings[item_key(violation.kind, violation.name, violation.domain)] = "violation"
    counts = {k: v for k, v in (scan.summary or {}).items() if k != "sightings"}
    counts["violations"], counts["review"] = count_findings(violations), count_findings(review)
    return ScanSummary(scan.id, scan.finished_at, counts, violations, review, findings)


async def latest_scan_summary(site: Site) -> ScanSummary | None:
    scan = await Scan.filter(site=site).order_by("-finished_at", "-id").first()
    if scan is None:
        return None
    return scan_summary(scan, await load_inventory(site.id))


async def _vendor_row(
    site: Site, item: ReportItem, kb: KnowledgeBase, cache: dict[str, Vendor]
) -> Vendor:
    key = item.vendor or ""
    if key in cache:
        return cache[key]
    row = await Vendor.get_or_none(site=site, key=key)
    if row is None and item.attributed_by == "first-party":
        # The site itself (the scanner keys it by its registrable domain): named as the site,
        # and nothing leaves the site's own hands.
        row = await Vendor.create(
            site=site,
            key=key,
            name=site.name,
            transfers_outside_eea=False,
            description={
                "en": f"{site.name} itself: set by its own server or scripts.",
                "sv": f"{site.name} själv: satt av webbplatsens egen server eller egna skript.",
                "da": f"{site.name} selv: sat af websitets egen server eller egne scripts.",
            },
        )
    if row is None:
        facts = kb.vendor(key)
        row = await Vendor.create(
            site=site,
            key=key,
            name=facts.name if facts else key,
            country=(facts.country or None) if facts else None,
            privacy_policy_url=facts.privacy_policy_url if facts else None,
            transfers_outside_eea=facts.transfers_outside_eea if facts else None,
            transfer_basis=facts.transfer_basis if facts else None,
            description=(
                {"en": facts.description, **dict(facts.translations)}
                if facts and facts.description else {}
            ),
        )
    cache[key] = row
    return row


def _matches(row: InventoryItem, item: ReportItem) -> bool:
    if row.kind != item.kind:
        return False
    if row.match == "prefix":
        return item.name.startswith(row.name)
    return row.name == item.name


_BEFORE_CONSENT = ("none", "reject")
_SUGGESTED = (
    "suggested_purpose", "suggested_vendor", "suggested_vendor_name", "suggested_duration_days",
    "suggested_description",
)


def _suggested(item: ReportItem, kb: KnowledgeBase) -> dict[str, Any]:
    """What the knowledge base said of the item, kept beside what staff choose (cut to the
    columns). The site itself is no knowledge-base vendor: what the scanner attributes to the
    site's own host (``127.0.0.1``, ``shop.se``) is never offered as one."""

    def text(value: str | None, limit: int | None) -> str | None:
        return value.replace("\x00", "")[:limit] if value else None

    known = item.attributed_by != "first-party" and bool(item.vendor) and (
        kb.vendor(item.vendor or "") is not None
    )
    return {
        "suggested_purpose": item.category,
        "suggested_vendor": text(item.vendor, 64) if known else None,
        "suggested_vendor_name": text(item.vendor_name, 200) if known else None,
        "suggested_duration_days": (
            round(item.kb_duration_days) if item.kb_duration_days is not None else None
        ),
        "suggested_description": text(item.description, None),
    }


async def _update_inventory(
    site: Site, report: ScanReport, kb: KnowledgeBase
) -> InventoryCounts:
    now = utcnow()
    rows = list(await InventoryItem.filter(site=site))
    purposes = {p.key: p for p in await Purpose.filter(site=site)}
    vendors: dict[str, Vendor] = {}
    seen: dict[int, InventoryItem] = {}
    before_consent: dict[int, bool] = {}
    new: set[int] = set()
    for item in report.items:
        early = any(p in _BEFORE_CONSENT for p in item.passes)
        match = next((r for r in rows if r.match == "exact" and _matches(r, item)), None) or next(
            (r for r in rows if _matches(r, item)), None
        )
        if match is not None:
            # A prefix row stands for every name it covers: seen before consent if any was.
            before_consent[match.id] = before_consent.get(match.id, False) or early
            if match.id not in seen:
                seen[match.id] = match
                for name, value in _suggested(item, kb).items():
                    setattr(match, name, value)
            continue
        vendor = await _vendor_row(site, item, kb, vendors) if item.vendor else None
        row = await InventoryItem.create(
            site=site,
            name=item.name,
            kind=item.kind,
            domain=item.domain,
            vendor=vendor,
            # An unclassified item gets no purpose: it waits for a reviewer, never a guess.
            purpose=purposes.get(item.category) if item.category != "unclassified" else None,
            duration_days=round(item.expires_days) if item.expires_days is not None else None,
            party=item.party,
            # Every language the knowledge base describes it in, when the scan's words are its.
            description=translations.completed(
                {"en": item.description or ""},
                translations.kb_match(kb, item.kind, item.name, "exact", item.domain),
            ),
            source="scan",
            review_status="unreviewed",
            first_seen=now,
            last_seen=now,
            before_consent=early,
            **_suggested(item, kb),
        )
        rows.append(row)
        new.add(row.id)
    for row_id, row in seen.items():
        row.last_seen = now
        row.missing_since = None
        row.first_seen = row.first_seen or now
        row.before_consent = before_consent[row_id]
        if row.review_status == "gone":  # staff said gone, and it is back: look again
            row.review_status = "unreviewed"
        await row.save(update_fields=[
            "last_seen", "missing_since", "first_seen", "before_consent", "review_status",
            *_SUGGESTED,
        ])
    seen_ids = set(seen) | new
    missing = [r.id for r in rows if r.id not in seen_ids and r.missing_since is None]
    if missing:
        await InventoryItem.filter(id__in=missing).update(missing_since=now, before_consent=False)
    return InventoryCounts(added=len(new), seen=len(seen_ids), missing=len(missing))


async def store_scan(
    site: Site, report: ScanReport, *, job: ScanJob | None = None, kb: KnowledgeBase | None = None
) -> Scan:
    body = report.model_dump_json()
    async with in_transaction():
        previous = await Scan.filter(site=site).order_by("-finished_at", "-id").first()
        counts = await _update_inventory(site, report, kb or KnowledgeBase.builtin())
        # Judged through the inventory as this scan left it, as every later read judges.
        inventory = await load_inventory(site.id)
        diff = diff_reports(read_report(previous) if previous else None, report, inventory)
        scan = await Scan.create(
            site=site,
            job=job,
            started_at=report.started_at,
            finished_at=report.finished_at,
            report=body,
            summary=_summary(report, inventory),
            diff=diff.model_copy(update={"inventory": counts}).model_dump(mode="json"),
        )
        await _announce(site, scan, diff, counts)
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
