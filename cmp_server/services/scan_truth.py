"""One truth for an item: a scan's findings read through the site's inventory first.

The scanner knows only its knowledge base; staff know the site. Every place that says whether
an item is a violation (a scan's findings, its summary and history line, the dashboard, the
inventory's flag and counts) reads it through :func:`verdict`, so they cannot disagree:

1. the item's inventory entry (the exact name first, else a prefix, as ``store_scan`` matches
   it): staff's purpose decides. A required purpose is no finding; any other purpose seen
   before consent or after reject is a violation; an entry without a purpose is a possible
   violation ("classify it"), as the inventory's flag says;
2. no entry (a scan read after its entry was deleted): the knowledge base's category, as the
   scanner reported it.

Tracker requests are not inventory items: the scanner's findings for them stand.

Findings are judged when read, against the inventory as it is now: a cookie staff map today
reads as mapped in every scan, old ones included. A stored scan keeps its *sightings* (what
was seen before consent, as the scanner classified it) in its summary, so a history line or
the dashboard count without reading the whole report.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, NamedTuple, Protocol, TypeVar

from tortoise import connections

from scanner import PossibleViolation, ScanReport, Violation

from .. import db

__all__ = [
    "Entry",
    "Judged",
    "Judgement",
    "Keyed",
    "Kept",
    "Same",
    "SiteInventory",
    "Sighting",
    "Verdict",
    "count_findings",
    "judge",
    "judge_report",
    "load_inventory",
    "offered_vendor",
    "sightings_of",
    "stored_sightings",
    "verdict",
]

K = TypeVar("K")
V = TypeVar("V")

BEFORE = {"none": "before consent", "reject": "after the visitor rejected"}


def offered_vendor(key: str | None) -> str | None:
    """``key`` if it can be a knowledge-base vendor: the scanner keys the site itself by its
    host or registrable domain (``127.0.0.1``, ``shop.se``, ``localhost``, ``[::1]``), never
    offered as a vendor (scans stored before ``store_scan`` left those out kept them as
    suggestions). Knowledge-base keys are words (``google-analytics``): a dot, a colon or a
    bracket is a host, and so is any ``localhost``."""
    if (not key or "." in key or ":" in key or "[" in key or "]" in key
            or key.lower() == "localhost"):
        return None
    return key


class Entry(NamedTuple):
    """One inventory row, as much of it as judging an item needs (a tuple: an inventory's
    entries are compared and hashed whole, :func:`judge_report`)."""

    id: int
    kind: str
    name: str
    match: str  # exact | prefix
    review_status: str
    purpose: str | None
    required: bool
    vendor: str | None
    vendor_name: str | None


class Same:
    """A tuple of entries, its hash computed once: the key a judgement is kept under."""

    __slots__ = ("_hash", "entries")

    def __init__(self, entries: tuple[Entry, ...]) -> None:
        self.entries = entries
        self._hash = hash(entries)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, Same) and self._hash == other._hash
                                 and self.entries == other.entries)


class SiteInventory:
    def __init__(self, entries: Iterable[Entry]) -> None:
        # What it was built of, hashed once: equal entries judge alike (judge_report).
        self.entries = Same(tuple(entries))
        self.exact: dict[tuple[str, str], Entry] = {}
        self.prefixes: list[Entry] = []
        # What :func:`verdict` said of an item, kept: an item is judged in each pass it was
        # seen in, in each report of a page (the scan and the one before), and listed.
        self.verdicts: dict[tuple[str, str, str, str | None, str | None], Verdict] = {}
        for e in self.entries.entries:
            if e.match == "prefix":
                self.prefixes.append(e)
            else:
                self.exact.setdefault((e.kind, e.name), e)

    def entry(self, kind: str, name: str) -> Entry | None:
        """The entry an item counts as: the exact name first, else the first prefix."""
        found = self.exact.get((kind, name))
        if found is not None:
            return found
        return next((e for e in self.prefixes if e.kind == kind and name.startswith(e.name)),
                    None)


_INVENTORY = """
SELECT i.id, i.kind, i.name, i.match, i.review_status, p.key, p.required, v.key, v.name
  FROM inventory_item i
  LEFT JOIN purpose p ON p.id = i.purpose_id
  LEFT JOIN vendor v ON v.id = i.vendor_id
 WHERE i.site_id = {site} AND i.id > {after}
 ORDER BY i.id LIMIT 2000"""


async def load_inventory(site_id: int) -> SiteInventory:
    # A scanned site can fill the inventory with thousands of rows: read 2,000 a query, so
    # that no one read holds the database (SQLite's one connection) or the event loop long;
    # as the driver's rows, not the ORM's dicts (a third of a 10,000-item scan's view).
    dialect = db.dialect()
    sql = _INVENTORY.format(site=dialect.placeholder(1), after=dialect.placeholder(2))
    conn = connections.get("default")
    rows: list[Any] = []
    while True:
        _, chunk = await conn.execute_query(sql, [site_id, rows[-1][0] if rows else 0])
        rows.extend(chunk)
        if len(chunk) < 2000:
            break

    def build() -> SiteInventory:
        return SiteInventory(
            Entry(int(r[0]), r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8])
            for r in rows
        )

    return await asyncio.to_thread(build) if len(rows) > 1000 else build()


@dataclass(frozen=True, slots=True)
class Verdict:
    """How an item reads: its purpose (staff's key, else the knowledge base's category), its
    vendor, and who said so."""

    category: str
    required: bool  # no consent needed: staff's required purpose, or the KB's "necessary"
    vendor: str | None
    vendor_name: str | None
    by: Literal["inventory", "knowledge base"]
    inventory_id: int | None = None
    review_status: str | None = None

    @property
    def finding(self) -> Literal["violation", "review"] | None:
        """What seeing it before consent or after reject makes it."""
        if self.required:
            return None
        return "review" if self.category == "unclassified" else "violation"


def verdict(
    inventory: SiteInventory, kind: str, name: str, category: str, vendor: str | None = None,
    vendor_name: str | None = None,
) -> Verdict:
    """Judge an item (``category``, ``vendor``: what the scanner's knowledge base said). The
    scanner keys the site's own items by its host (``127.0.0.1``): no vendor, so a cookie
    staff left without one reads as the site's own, not as the host's."""
    said = (kind, name, category, vendor, vendor_name)
    found = inventory.verdicts.get(said)
    if found is not None:
        return found
    if offered_vendor(vendor) is None:
        vendor = vendor_name = None
    entry = inventory.entry(kind, name)
    if entry is None:
        found = Verdict(category, category == "necessary", vendor, vendor_name,
                        "knowledge base")
    else:
        found = Verdict(
            entry.purpose or "unclassified", entry.required if entry.purpose else False,
            entry.vendor if entry.vendor else vendor,
            entry.vendor_name if entry.vendor else vendor_name,
            "inventory", entry.id, entry.review_status,
        )
    inventory.verdicts[said] = found
    return found


class Sighting(NamedTuple):
    """An item or tracker host seen in the ``none`` or ``reject`` pass, as the scanner
    classified it (a named tuple: a 10,000-item report makes 20,000 of them per view)."""

    pass_: str
    kind: str  # cookie | localStorage | sessionStorage | indexedDB | request
    name: str
    domain: str
    category: str
    vendor: str | None = None
    vendor_name: str | None = None
    url: str | None = None
    reason: str = ""  # the scanner's, for a request

    def row(self) -> list[Any]:
        return [self.pass_, self.kind, self.name, self.domain, self.category]


class Judged(NamedTuple):
    """A violation or possible violation as the server reads it (:func:`judge`)."""

    pass_: str
    kind: str
    name: str
    domain: str
    vendor: str | None  # key
    vendor_name: str | None
    category: str  # staff's purpose key, or the knowledge base's category
    reason: str
    url: str | None
    by: Literal["inventory", "knowledge base"]
    inventory_id: int | None
    violation: bool


class Keyed(Protocol):
    """What a finding's key is made of (``scan_results.finding_key``)."""

    @property
    def pass_(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def domain(self) -> str: ...


class _Found(Keyed, Protocol):
    @property
    def category(self) -> str: ...
    @property
    def vendor(self) -> str | None: ...
    @property
    def url(self) -> str | None: ...
    @property
    def reason(self) -> str: ...


def _sighting(f: _Found, vendor_name: str | None = None) -> Sighting:
    return Sighting(f.pass_, f.kind, f.name, f.domain, f.category, f.vendor, vendor_name,
                    f.url, f.reason)


def sightings_of(report: ScanReport) -> tuple[Sighting, ...]:
    """What the report saw before consent or after reject: every item seen in those passes
    (also one the knowledge base calls necessary: staff may know better), and every finding
    of the scanner's besides (tracker requests, and an item in a pass its entry does not
    list)."""
    kept = _SIGHTINGS.get(id(report), (report,))
    if kept is not None:
        return kept
    out: list[Sighting] = []
    seen: set[tuple[str, str, str, str]] = set()
    for item in report.items:
        for p in item.passes:
            if p in BEFORE:
                seen.add((p, item.kind, item.name, item.domain))
                out.append(Sighting(p, item.kind, item.name, item.domain, item.category,
                                    item.vendor, item.vendor_name, item.first_seen_url))
    names = {r.host: r.vendor_name for r in report.requests}
    found: Iterable[Violation | PossibleViolation] = (*report.violations, *report.review)
    for f in found:
        if (f.pass_, f.kind, f.name, f.domain) not in seen:
            seen.add((f.pass_, f.kind, f.name, f.domain))
            out.append(_sighting(f, names.get(f.name) if f.kind == "request" else None))
    return _SIGHTINGS.put(id(report), (report,), tuple(out))


def stored_sightings(summary: Mapping[str, Any]) -> list[Sighting] | None:
    """The sightings a scan's summary keeps (None: stored before they were kept)."""
    rows = summary.get("sightings")
    if not isinstance(rows, list):
        return None
    return [Sighting(*(str(x) for x in row[:5])) for row in rows
            if isinstance(row, list) and len(row) >= 5]


# The violations and the possible violations of one report (:func:`judge`).
Judgement = tuple[tuple[Judged, ...], tuple[Judged, ...]]


class Kept(Generic[K, V]):
    """The last few results of a pure function of stored reports (and the inventory they
    were judged through), shared by the event loop and the threads that judge. Each result
    is kept with the reports it was made of (``anchors``), so that their ``id``s, part of
    its key, stay theirs while it is kept: a kept result is found only for the very same
    reports."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._kept: OrderedDict[K, tuple[tuple[object, ...], V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, anchors: tuple[object, ...]) -> V | None:
        with self._lock:
            kept = self._kept.get(key)
            if kept is None or len(kept[0]) != len(anchors) or any(
                    a is not b for a, b in zip(kept[0], anchors, strict=True)):
                return None
            self._kept.move_to_end(key)
            return kept[1]

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()

    def put(self, key: K, anchors: tuple[object, ...], value: V) -> V:
        with self._lock:
            self._kept[key] = (anchors, value)
            self._kept.move_to_end(key)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return value


_SIGHTINGS: Kept[int, tuple[Sighting, ...]] = Kept(4)
_JUDGED: Kept[tuple[int, Same], Judgement] = Kept(4)


def judge_report(report: ScanReport, inventory: SiteInventory) -> Judgement:
    """``judge(sightings_of(report), inventory)``, kept for the next view of the same
    report through an equal inventory (a stored report never changes; a page of a
    10,000-item scan would judge 20,000 sightings per view, twice)."""
    key = (id(report), inventory.entries)
    judged = _JUDGED.get(key, (report,))
    if judged is None:
        judged = _JUDGED.put(key, (report,), judge(sightings_of(report), inventory))
    return judged


def judge(sightings: Iterable[Sighting], inventory: SiteInventory) -> Judgement:
    """The violations and the possible violations, each sighting read through the inventory
    first (a request as the scanner classified it)."""
    violations: list[Judged] = []
    review: list[Judged] = []
    for s in sightings:
        if s.kind == "request":
            if s.category == "necessary":
                continue
            judged = Judged(s.pass_, s.kind, s.name, s.domain, s.vendor, s.vendor_name,
                            s.category, s.reason, s.url, "knowledge base", None,
                            s.category != "unclassified")
        else:
            v = verdict(inventory, s.kind, s.name, s.category, s.vendor, s.vendor_name)
            finding = v.finding
            if finding is None:
                continue
            when = BEFORE.get(s.pass_, "before consent")
            if finding == "review":
                reason = (f"{s.kind} set {when}, not mapped to a purpose yet: possible violation"
                          if v.by == "inventory"
                          else f"unclassified {s.kind} set {when}: possible violation")
            else:
                reason = f"{v.category} {s.kind} set {when}"
                if v.by == "inventory":
                    reason += " (purpose set in the inventory)"
            judged = Judged(s.pass_, s.kind, s.name, s.domain, v.vendor, v.vendor_name,
                            v.category, reason, s.url, v.by, v.inventory_id,
                            finding == "violation")
        (violations if judged.violation else review).append(judged)
    return tuple(violations), tuple(review)


def count_findings(found: Iterable[Judged]) -> int:
    """Distinct items and tracker hosts: an item seen before consent and after reject is one
    violation, as it is one flagged entry in the inventory."""
    return len({(f.kind, f.name, f.domain) for f in found})
