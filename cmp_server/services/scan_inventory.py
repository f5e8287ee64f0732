"""A stored scan's effect on the site's inventory, written in short transactions.

New items are added as unreviewed with the scanner's suggested vendor and purpose; items seen
again get ``last_seen``; items no longer seen are flagged with ``missing_since``.

A scanned site decides how many items its report holds (the scanner's limits bound it), and
receipts share the database with this: on SQLite they share its one connection, and a
transaction holds it. So the matching runs off the event loop, and the writes go in batches
of ``BATCH_ROWS`` rows, each its own short transaction: the receipt writer's batches take
turns with them. A store that stops halfway (the process killed) leaves the batches written
so far; the scan is stored again when its job is claimed again, and what was added is then
matched as seen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from tortoise.transactions import in_transaction

from scanner import ReportItem, ScanReport
from scanner.kb import KnowledgeBase

from .._utils import utcnow
from ..models import InventoryItem, Purpose, Site, Vendor, vendor_sort
from . import translations

__all__ = ["BATCH_ROWS", "InventoryCounts", "batches", "present_items", "update_inventory"]

# Rows a transaction writes: about 10 ms on SQLite, so a receipt waits at most that long.
BATCH_ROWS = 100
_READ_ROWS = 500
_BEFORE_CONSENT = ("none", "reject")
_SUGGESTED = (
    "suggested_purpose", "suggested_vendor", "suggested_vendor_name", "suggested_duration_days",
    "suggested_description",
)

T = TypeVar("T")


class InventoryCounts(BaseModel):
    model_config = ConfigDict(frozen=True)
    added: int
    seen: int
    missing: int


async def batches(
    rows: Sequence[T], write: Callable[[Any], Awaitable[None]],
    on_batch: Callable[[], None] | None = None, size: int = BATCH_ROWS,
    make: Callable[[Sequence[T]], Any] | None = None,
) -> None:
    """``write`` each ``size`` of ``rows`` in a transaction of its own, letting what waits
    for the database (the receipt writer) go between them. ``make`` turns a batch into what
    ``write`` writes before its transaction begins: the transaction holds SQLite's
    connection, so it does the database's part only."""
    for start in range(0, len(rows), size):
        chunk = rows[start:start + size]
        ready = make(chunk) if make is not None else chunk
        async with in_transaction():
            await write(ready)
        if on_batch is not None:
            on_batch()
        await asyncio.sleep(0)


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


@dataclass(frozen=True, slots=True)
class _Row:
    """What matching and marking need of an inventory row."""

    id: int
    kind: str
    name: str
    match: str
    first_seen: datetime | None
    review_status: str
    missing_since: datetime | None


_ROW_FIELDS = ("id", "kind", "name", "match", "first_seen", "review_status", "missing_since")


@dataclass
class _Seen:
    row: _Row
    item: ReportItem  # the first item the row stands for: its suggestions are kept
    early: bool  # seen before consent (any item it stands for)


@dataclass
class _New:
    item: ReportItem
    early: bool


@dataclass
class _Plan:
    seen: dict[int, _Seen] = field(default_factory=dict)
    new: dict[tuple[str, str], _New] = field(default_factory=dict)


def _plan(rows: list[_Row], items: Sequence[ReportItem]) -> _Plan:
    """Which row each item counts as (its exact name first, else the first prefix that covers
    it), and the items no row covers: one new row per kind and name, as a row stands for a
    name on every domain."""
    exact: dict[tuple[str, str], _Row] = {}
    prefixes: dict[str, list[_Row]] = {}
    for row in rows:
        if row.match == "prefix":
            prefixes.setdefault(row.kind, []).append(row)
        else:
            exact.setdefault((row.kind, row.name), row)
    plan = _Plan()
    for item in items:
        early = any(p in _BEFORE_CONSENT for p in item.passes)
        key = (item.kind, item.name)
        match = exact.get(key) or next(
            (r for r in prefixes.get(item.kind, ()) if item.name.startswith(r.name)), None)
        if match is not None:
            seen = plan.seen.setdefault(match.id, _Seen(match, item, False))
            # A prefix row stands for every name it covers: seen before consent if any was.
            seen.early = seen.early or early
        elif key in plan.new:
            plan.new[key].early = plan.new[key].early or early
        else:
            plan.new[key] = _New(item, early)
    return plan


async def _vendors(
    site: Site, items: list[ReportItem], kb: KnowledgeBase
) -> dict[str, Vendor]:
    """The site's vendor row of each item's vendor, created where missing."""
    keys = sorted({i.vendor for i in items if i.vendor})
    found: dict[str, Vendor] = {}
    for start in range(0, len(keys), 500):
        for row in await Vendor.filter(site=site, key__in=keys[start:start + 500]):
            found[row.key] = row
    first = {i.vendor: i for i in reversed(items) if i.vendor}
    missing = [k for k in keys if k not in found]

    async def create(chunk: Sequence[str]) -> None:
        for key in chunk:
            found[key] = await _new_vendor(site, first[key], kb)

    await batches(missing, create)
    return found


async def _new_vendor(site: Site, item: ReportItem, kb: KnowledgeBase) -> Vendor:
    key = item.vendor or ""
    if item.attributed_by == "first-party":
        # The site itself (the scanner keys it by its registrable domain): named as the site,
        # and nothing leaves the site's own hands.
        return await Vendor.create(
            site=site, key=key, name=site.name, transfers_outside_eea=False,
            description={
                "en": f"{site.name} itself: set by its own server or scripts.",
                "sv": f"{site.name} själv: satt av webbplatsens egen server eller egna skript.",
                "da": f"{site.name} selv: sat af websitets egen server eller egne scripts.",
            },
        )
    facts = kb.vendor(key)
    return await Vendor.create(
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


def _seen_updates(
    seen: list[_Seen], kb: KnowledgeBase, now: datetime
) -> list[tuple[dict[str, Any], list[int]]]:
    """The updates that mark ``seen`` rows seen: rows whose new values are alike share a
    statement, of at most ``BATCH_ROWS`` rows."""
    groups: dict[tuple[tuple[str, Any], ...], list[int]] = {}
    for s in seen:
        values: dict[str, Any] = {"last_seen": now, "missing_since": None,
                                  "before_consent": s.early, **_suggested(s.item, kb)}
        if s.row.first_seen is None:
            values["first_seen"] = now
        if s.row.review_status == "gone":  # staff said gone, and it is back: look again
            values["review_status"] = "unreviewed"
        groups.setdefault(tuple(sorted(values.items())), []).append(s.row.id)
    return [(dict(key), ids[i:i + BATCH_ROWS]) for key, ids in groups.items()
            for i in range(0, len(ids), BATCH_ROWS)]


def _statements_per_batch(updates: list[tuple[dict[str, Any], list[int]]]) -> int:
    """Statements a transaction takes so that it writes about ``BATCH_ROWS`` rows."""
    rows = sum(len(ids) for _, ids in updates)
    return max(1, BATCH_ROWS * len(updates) // rows) if rows else 1


async def present_items(site: Site, *related: str) -> list[InventoryItem]:
    """The site's inventory items not marked gone, with ``related`` fields, read
    ``_READ_ROWS`` rows a query: a scanned site can add thousands, and each query's rows are
    made into models on the event loop."""
    rows: list[InventoryItem] = []
    while True:
        query = InventoryItem.filter(site=site).exclude(review_status="gone")
        if rows:
            query = query.filter(id__gt=rows[-1].id)
        chunk = list(await query.order_by("id").limit(_READ_ROWS).select_related(*related))
        rows.extend(chunk)
        if len(chunk) < _READ_ROWS:
            return rows


async def _rows(site: Site) -> list[_Row]:
    """The site's inventory, ``_READ_ROWS`` rows a query: each query's rows are converted
    on the event loop, so thousands at once would hold it."""
    rows: list[_Row] = []
    while True:
        query = InventoryItem.filter(site=site).order_by("id").limit(_READ_ROWS)
        if rows:
            query = query.filter(id__gt=rows[-1].id)
        chunk = await query.values_list(*_ROW_FIELDS)
        rows.extend(_Row(*values) for values in chunk)
        if len(chunk) < _READ_ROWS:
            return rows


async def update_inventory(
    site: Site, report: ScanReport, kb: KnowledgeBase,
    on_batch: Callable[[], None] | None = None,
) -> InventoryCounts:
    """Add, mark seen and mark missing, in batches (``on_batch`` after each transaction)."""
    now = utcnow()
    rows = await _rows(site)
    purposes = {p.key: p for p in await Purpose.filter(site=site)}
    plan = await asyncio.to_thread(_plan, rows, report.items)
    new = list(plan.new.values())
    vendors = await _vendors(site, [n.item for n in new], kb)

    def created(n: _New) -> InventoryItem:
        item = n.item
        vendor = vendors.get(item.vendor) if item.vendor else None
        return InventoryItem(
            site=site,
            name=item.name,
            kind=item.kind,
            domain=item.domain,
            vendor=vendor,
            vendor_sort=vendor_sort(vendor.name if vendor else None),
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
            before_consent=n.early,
            **_suggested(item, kb),
        )

    async def add(made: list[InventoryItem]) -> None:
        await InventoryItem.bulk_create(made)

    await batches(new, add, on_batch, make=lambda chunk: [created(n) for n in chunk])

    # Rows seen again, as few statements as their values allow (a site's thousand items
    # mostly read alike), ``BATCH_ROWS`` rows a statement and a transaction.
    seen = list(plan.seen.values())
    updates = await asyncio.to_thread(_seen_updates, seen, kb, now)

    async def mark_seen(chunk: Sequence[tuple[dict[str, Any], list[int]]]) -> None:
        for values, ids in chunk:
            await InventoryItem.filter(id__in=ids).update(**values)

    await batches(updates, mark_seen, on_batch, size=_statements_per_batch(updates))

    missing = [r.id for r in rows if r.id not in plan.seen and r.missing_since is None]

    async def mark_missing(chunk: Sequence[int]) -> None:
        await InventoryItem.filter(id__in=list(chunk)).update(
            missing_since=now, before_consent=False)

    await batches(missing, mark_missing, on_batch)
    # A new row seen again under another domain counted as seen too, as it always has.
    return InventoryCounts(added=len(new), seen=len(seen) + len(new), missing=len(missing))
