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
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from tortoise.transactions import in_transaction

from scanner import ReportItem, ScanReport
from scanner.kb import KnowledgeBase

from .._utils import utcnow
from ..models import InventoryItem, Purpose, Site, Vendor

__all__ = ["BATCH_ROWS", "InventoryCounts", "batches", "update_inventory"]

# Rows a transaction writes: about 10 ms on SQLite, so a receipt waits at most that long.
BATCH_ROWS = 100
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
    rows: Sequence[T], write: Callable[[Sequence[T]], Awaitable[None]],
    on_batch: Callable[[], None] | None = None,
) -> None:
    """``write`` each ``BATCH_ROWS`` of ``rows`` in a transaction of its own, letting what
    waits for the database (the receipt writer) go between them."""
    for start in range(0, len(rows), BATCH_ROWS):
        async with in_transaction():
            await write(rows[start:start + BATCH_ROWS])
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


@dataclass
class _Seen:
    row: InventoryItem
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


def _plan(rows: list[InventoryItem], items: Sequence[ReportItem]) -> _Plan:
    """Which row each item counts as (its exact name first, else the first prefix that covers
    it), and the items no row covers: one new row per kind and name, as a row stands for a
    name on every domain."""
    exact: dict[tuple[str, str], InventoryItem] = {}
    prefixes: dict[str, list[InventoryItem]] = {}
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
            description={"en": f"{site.name} itself: set by its own server or scripts."},
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
        description={"en": facts.description} if facts and facts.description else {},
    )


async def update_inventory(
    site: Site, report: ScanReport, kb: KnowledgeBase,
    on_batch: Callable[[], None] | None = None,
) -> InventoryCounts:
    """Add, mark seen and mark missing, in batches (``on_batch`` after each transaction)."""
    now = utcnow()
    rows = list(await InventoryItem.filter(site=site).order_by("id"))
    purposes = {p.key: p for p in await Purpose.filter(site=site)}
    plan = await asyncio.to_thread(_plan, rows, report.items)
    new = list(plan.new.values())
    vendors = await _vendors(site, [n.item for n in new], kb)

    def created(n: _New) -> InventoryItem:
        item = n.item
        return InventoryItem(
            site=site,
            name=item.name,
            kind=item.kind,
            domain=item.domain,
            vendor=vendors.get(item.vendor) if item.vendor else None,
            # An unclassified item gets no purpose: it waits for a reviewer, never a guess.
            purpose=purposes.get(item.category) if item.category != "unclassified" else None,
            duration_days=round(item.expires_days) if item.expires_days is not None else None,
            party=item.party,
            description={"en": item.description} if item.description else {},
            source="scan",
            review_status="unreviewed",
            first_seen=now,
            last_seen=now,
            before_consent=n.early,
            **_suggested(item, kb),
        )

    async def add(chunk: Sequence[_New]) -> None:
        await InventoryItem.bulk_create([created(n) for n in chunk])

    await batches(new, add, on_batch)

    seen = list(plan.seen.values())
    for s in seen:
        row = s.row
        row.last_seen = now
        row.missing_since = None
        row.first_seen = row.first_seen or now
        row.before_consent = s.early
        if row.review_status == "gone":  # staff said gone, and it is back: look again
            row.review_status = "unreviewed"
        for name, value in _suggested(s.item, kb).items():
            setattr(row, name, value)

    async def mark_seen(chunk: Sequence[_Seen]) -> None:
        await InventoryItem.bulk_update(
            [s.row for s in chunk],
            fields=["last_seen", "missing_since", "first_seen", "before_consent",
                    "review_status", *_SUGGESTED],
        )

    await batches(seen, mark_seen, on_batch)

    missing = [r.id for r in rows if r.id not in plan.seen and r.missing_since is None]

    async def mark_missing(chunk: Sequence[int]) -> None:
        await InventoryItem.filter(id__in=list(chunk)).update(
            missing_since=now, before_consent=False)

    await batches(missing, mark_missing, on_batch)
    # A new row seen again under another domain counted as seen too, as it always has.
    return InventoryCounts(added=len(new), seen=len(seen) + len(new), missing=len(missing))
