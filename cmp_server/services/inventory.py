"""The cookie inventory of a site: every cookie and storage key it sets (by exact name or by
name prefix), who sets it, for which purpose, and how staff reviewed it.

An item comes from a scan (``source="scan"``, added unreviewed with the knowledge base's
purpose and vendor), by hand (``manual``) or from an import. What the knowledge base
suggested when a scan found the item stays in ``suggested_*`` beside what staff chose.

Review status: ``unreviewed`` until staff look at it; ``reviewed``; ``gone`` when staff say
the site no longer sets it. A *gone* item is left out of the published banner and the
declaration (``publishing.build_config``); an item a scan merely did not see
(``missing_since`` set, "no longer seen") is still published until staff mark it gone, since
a scan that missed a page would otherwise drop a cookie the site still sets. A scan that sees
a gone item again makes it ``unreviewed`` (``scan_results._update_inventory``).

Flags, from the latest scan that saw the item and the purpose staff chose: ``violation``
when it was seen before consent or after a refusal (the ``none`` or ``reject`` pass) and its
purpose is not a required one; ``review`` when it was seen then and has no purpose yet
("classify: seen before consent"). Gone and no-longer-seen items carry no flag.

Reading is paged by the database (:func:`list_items`, :func:`iter_items`): filters, sorting,
counts and the page are SQL, never every row in Python. Changing items is ``items.py``
(every change audited with before and after in its own transaction), vendors ``vendors.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from tortoise import connections
from tortoise.expressions import Q, RawSQL
from tortoise.queryset import QuerySet

from .. import db
from ..errors import InvalidRequest
from ..models import InventoryItem, Purpose, Scan, Site, Vendor, vendor_sort
from ._text import check_text
from .scan_truth import offered_vendor
from .sites import check_url

__all__ = [
    "ITEM_KINDS",
    "PER_PAGE",
    "REVIEW_STATUSES",
    "SORTS",
    "Choices",
    "Counts",
    "Flag",
    "ItemQuery",
    "ItemRow",
    "Page",
    "add_item",
    "add_vendor",
    "choices",
    "counts",
    "flag_of",
    "iter_items",
    "list_items",
]

ITEM_KINDS = ("cookie", "localStorage", "sessionStorage", "indexedDB")
REVIEW_STATUSES = ("unreviewed", "reviewed", "gone")
PER_PAGE = (25, 50, 100, 200)

Kind = Literal["cookie", "localStorage", "sessionStorage", "indexedDB"]
Status = Literal["unreviewed", "reviewed", "gone"]
Flag = Literal["violation", "review"]


def flag_of(
    before_consent: bool, missing: bool, status: str, purpose: str | None, required: bool
) -> Flag | None:
    """``violation``: seen before consent with an optional purpose; ``review``: seen then
    and not classified yet; neither for an item no longer seen or gone."""
    if not before_consent or missing or status == "gone":
        return None
    if purpose is None:
        return "review"
    return None if required else "violation"

# Sort keys of the list: what each orders by (the id last, so a page is always the same rows).
SORTS: dict[str, tuple[str, ...]] = {
    "name": ("name", "kind"),
    "kind": ("kind", "name"),
    "domain": ("domain", "name"),
    "vendor": ("vendor_sort", "name"),  # the vendor's name kept on the row, no vendor last
    "purpose": ("purpose__order", "name"),
    "duration": ("duration_days", "name"),
    "party": ("party", "name"),
    "first_seen": ("first_seen", "name"),
    "last_seen": ("last_seen", "name"),
    "status": ("review_status", "name"),
}


# -- reading -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemQuery:
    """A filtered, sorted page of the list. ``purpose``/``vendor``: a key, or ``"none"``
    for items without one; ``seen``: ``new`` (added by the latest scan) or ``missing``
    (the latest scan did not see it); ``flag``: ``violation`` or ``review``; ``sort``: a
    key of :data:`SORTS`, ``-`` in front for descending."""

    status: Status | None = None
    seen: Literal["new", "missing"] | None = None
    flag: Literal["violation", "review"] | None = None
    purpose: str | None = None
    vendor: str | None = None
    kind: Kind | None = None
    search: str = ""
    sort: str = "name"
    page: int = 1
    per_page: int = 50

    @property
    def filtered(self) -> bool:
        """Whether it leaves any of the site's items out (else it counts them all)."""
        return any(v is not None for v in (self.status, self.seen, self.flag, self.purpose,
                                           self.vendor, self.kind)) or bool(self.search)

    def __post_init__(self) -> None:
        if self.sort.removeprefix("-") not in SORTS:
            raise InvalidRequest(f"sort must be one of {', '.join(SORTS)} (- for descending)")
        if self.per_page not in PER_PAGE:
            raise InvalidRequest(f"per_page must be one of {PER_PAGE}")
        if not 1 <= self.page <= 1_000_000:
            raise InvalidRequest("page must be a number from 1")
        check_text(self.search, "the search", 255)
        for name, allowed in (("status", REVIEW_STATUSES), ("seen", ("new", "missing")),
                              ("flag", ("violation", "review")), ("kind", ITEM_KINDS)):
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise InvalidRequest(f"{name} must be one of {', '.join(allowed)}")


@dataclass(frozen=True, slots=True)
class ItemRow:
    """One row of the list, read with its vendor's and purpose's names in the same query."""

    id: int
    name: str
    match: str
    kind: str
    domain: str | None
    vendor_id: int | None
    vendor_key: str | None
    vendor_name: str | None
    purpose_key: str | None
    purpose_name: dict[str, str]
    duration_days: int | None
    party: str
    source: str
    review_status: str
    first_seen: datetime | None
    last_seen: datetime | None
    missing_since: datetime | None
    suggested_purpose: str | None
    suggested_vendor: str | None
    suggested_vendor_name: str | None
    flag: Flag | None
    new: bool


@dataclass(frozen=True, slots=True)
class Page:
    items: tuple[ItemRow, ...]
    total: int  # rows matching the filters, counted by the database
    query: ItemQuery

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.per_page))

    @property
    def first(self) -> int:
        return (self.query.page - 1) * self.query.per_page + 1 if self.items else 0

    @property
    def last(self) -> int:
        return self.first + len(self.items) - 1 if self.items else 0


@dataclass(frozen=True, slots=True)
class Counts:
    total: int
    unreviewed: int
    violations: int
    review: int
    missing: int


@dataclass(frozen=True, slots=True)
class Choices:
    """A site's purposes ``(key, name, required)`` in banner order and vendors ``(key, name)``
    by name: what a purpose or vendor field may hold."""

    purposes: tuple[tuple[str, dict[str, str], bool], ...]
    vendors: tuple[tuple[str, str], ...]

    @property
    def purpose_keys(self) -> frozenset[str]:
        return frozenset(p[0] for p in self.purposes)

    @property
    def vendor_keys(self) -> frozenset[str]:
        return frozenset(v[0] for v in self.vendors)


_ROW_FIELDS = (
    "id", "name", "match", "kind", "domain", "duration_days", "party", "source",
    "review_status", "first_seen", "last_seen", "missing_since", "suggested_purpose",
    "suggested_vendor", "suggested_vendor_name", "before_consent", "created_at", "vendor_id",
)


async def choices(site: Site) -> Choices:
    purposes = await Purpose.filter(site=site).order_by("order", "id").values_list(
        "key", "name", "required"
    )
    vendors = await Vendor.filter(site=site).order_by("name", "key").values_list("key", "name")
    return Choices(
        tuple((str(k), dict(n or {}), bool(r)) for k, n, r in purposes),
        tuple((str(k), str(n)) for k, n in vendors),
    )


async def _latest_scan_start(site: Site) -> datetime | None:
    """When the latest stored scan started: items it added were made and first seen since.
    (Each scan stores its items after it finished, so earlier scans' items were made before.)"""
    latest = await Scan.filter(site=site).order_by("-finished_at", "-id").first().only(
        "id", "started_at"
    )
    return latest.started_at if latest else None


async def _ids(qs: Any) -> list[int]:
    return [int(i) for i in await qs.values_list("id", flat=True)]


def _flagged(flag: str, optional_purposes: list[int]) -> Q:
    seen_then = Q(before_consent=True, missing_since__isnull=True) & ~Q(review_status="gone")
    if flag == "violation":
        return seen_then & Q(purpose_id__in=optional_purposes or [0])
    return seen_then & Q(purpose_id__isnull=True)


async def _filtered(
    site: Site, query: ItemQuery, new_since: datetime | None
) -> QuerySet[InventoryItem]:
    qs = InventoryItem.filter(site_id=site.id)
    if query.status is not None:
        qs = qs.filter(review_status=query.status)
    if query.seen == "new":
        qs = (qs.filter(first_seen__gte=new_since, created_at__gte=new_since) if new_since
              else qs.filter(id__in=[]))
    elif query.seen == "missing":
        qs = qs.filter(missing_since__isnull=False)
    if query.flag is not None:
        optional = await _ids(Purpose.filter(site=site, required=False))
        qs = qs.filter(_flagged(query.flag, optional))
    if query.purpose == "none":
        qs = qs.filter(purpose_id__isnull=True)
    elif query.purpose:
        purposes = await _ids(Purpose.filter(site=site, key=query.purpose))
        qs = qs.filter(purpose_id__in=purposes or [0])
    if query.vendor == "none":
        qs = qs.filter(vendor_id__isnull=True)
    elif query.vendor:
        vendors = await _ids(Vendor.filter(site=site, key=query.vendor))
        qs = qs.filter(vendor_id__in=vendors or [0])
    if query.kind is not None:
        qs = qs.filter(kind=query.kind)
    if query.search:
        qs = qs.filter(name__icontains=query.search)
    return qs


# Sorts on a column that may be empty, and the column that tells: empty rows come last
# ascending (first descending) on both databases (SQLite puts NULL first, PostgreSQL last).
_NULLABLE = {
    "domain": "domain", "purpose": "purpose_id",
    "duration": "duration_days", "first_seen": "first_seen", "last_seen": "last_seen",
}


def _sorted(qs: QuerySet[InventoryItem], sort: str) -> QuerySet[InventoryItem]:
    descending = sort.startswith("-")
    key = sort.removeprefix("-")
    columns = list(SORTS[key])
    if key in _NULLABLE:
        # A fixed column name, never input. (Case/When binds 1 and 0 as text on asyncpg.)
        column = f'"inventory_item"."{_NULLABLE[key]}"'
        qs = qs.annotate(sort_empty=RawSQL(f"CASE WHEN {column} IS NULL THEN 1 ELSE 0 END"))
        columns.insert(0, "sort_empty")
    return qs.order_by(*(f"-{c}" if descending else c for c in columns),
                       "-id" if descending else "id")


def _row(values: dict[str, Any], required: dict[str, bool], new_since: datetime | None) -> ItemRow:
    purpose = values["purpose__key"]
    flag = flag_of(
        values["before_consent"], values["missing_since"] is not None, values["review_status"],
        purpose, required.get(purpose, False),
    )
    first_seen = values["first_seen"]
    return ItemRow(
        id=values["id"],
        name=values["name"],
        match=values["match"],
        kind=values["kind"],
        domain=values["domain"],
        vendor_id=values["vendor_id"],
        vendor_key=values["vendor__key"],
        vendor_name=values["vendor__name"],
        purpose_key=purpose,
        purpose_name=dict(values["purpose__name"] or {}),
        duration_days=values["duration_days"],
        party=values["party"],
        source=values["source"],
        review_status=values["review_status"],
        first_seen=first_seen,
        last_seen=values["last_seen"],
        missing_since=values["missing_since"],
        suggested_purpose=values["suggested_purpose"],
        suggested_vendor=offered_vendor(values["suggested_vendor"]),
        suggested_vendor_name=(values["suggested_vendor_name"]
                               if offered_vendor(values["suggested_vendor"]) else None),
        flag=flag,
        new=bool(new_since and first_seen and first_seen >= new_since
                 and values["created_at"] >= new_since),
    )


async def _rows(
    qs: QuerySet[InventoryItem], site: Site, new_since: datetime | None
) -> list[ItemRow]:
    values = await qs.values(
        *_ROW_FIELDS, "vendor__key", "vendor__name", "purpose__key", "purpose__name"
    )
    required = dict(await Purpose.filter(site=site).values_list("key", "required"))
    return [_row(v, required, new_since) for v in values]


async def list_items(
    site: Site, query: ItemQuery | None = None, *, total: int | None = None
) -> Page:
    """One page of the site's items matching ``query``; the total counted by the database,
    unless the caller counted the same rows already (``total``: an unfiltered query's is
    ``counts().total``; counting reads every matching row, 12 ms of 20,000)."""
    query = query or ItemQuery()
    new_since = await _latest_scan_start(site)
    qs = await _filtered(site, query, new_since)
    if total is None or query.filtered:
        total = await qs.count()
    last_page = max(1, -(-total // query.per_page))
    if query.page > last_page:  # past the end (rows went away): the last page instead
        query = replace(query, page=last_page)
    page = _sorted(qs, query.sort).offset((query.page - 1) * query.per_page)
    rows = await _rows(page.limit(query.per_page), site, new_since)
    return Page(tuple(rows), total, query)


async def iter_items(
    site: Site, query: ItemQuery | None = None, *, batch: int = 500
) -> AsyncIterator[ItemRow]:
    """Every item matching ``query`` (its page and per_page ignored), in its order, read
    ``batch`` rows at a time (for the command line and exports)."""
    query = query or ItemQuery()
    new_since = await _latest_scan_start(site)
    qs = _sorted(await _filtered(site, query, new_since), query.sort)
    offset = 0
    while True:
        rows = await _rows(qs.offset(offset).limit(batch), site, new_since)
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        offset += batch


# PostgreSQL's tally appends a row per statement (migration 0024): past this many of a
# site's rows, the reader folds them into one per group.
_FOLD_PAST = 64


async def counts(site: Site) -> Counts:
    """How many items there are, unreviewed, flagged and no longer seen: read from the
    tally the database keeps per site (migration 0024), a few rows whatever the site's
    size, so that the list's quick filters cost the same at 20,000 items as at 2,000."""
    optional = set(await _ids(Purpose.filter(site=site, required=False)))
    conn = connections.get("default")
    mark = db.dialect().placeholder(1)
    rows = await conn.execute_query_dict(
        "SELECT purpose, review_status, seen_before, missing, sum(n) AS n, count(*) AS kept"
        f" FROM inventory_tally WHERE site_id = {mark}"
        " GROUP BY purpose, review_status, seen_before, missing", [site.id])
    if sum(int(r["kept"]) for r in rows) > _FOLD_PAST:
        await db.dialect().fold_tally(conn, site.id)
    total = unreviewed = violations = review = missing = 0
    for r in rows:
        n = int(r["n"])
        total += n
        unreviewed += n if r["review_status"] == "unreviewed" else 0
        missing += n if r["missing"] else 0
        if r["seen_before"] and not r["missing"] and r["review_status"] != "gone":
            # _flagged's rule
            violations += n if r["purpose"] in optional else 0
            review += n if r["purpose"] == 0 else 0
    return Counts(total, unreviewed, violations, review, missing)


# -- kept for the command line, the demo and tests ---------------------------------------


async def add_vendor(
    site: Site,
    *,
    key: str,
    name: str,
    country: str | None = None,
    privacy_policy_url: str | None = None,
    transfers_outside_eea: bool | None = None,
    transfer_basis: str | None = None,
    description: dict[str, str] | None = None,
) -> Vendor:
    """Add or replace a vendor by key, unaudited (the demo and scripts; staff use
    ``vendors.create_vendor``)."""
    vendor, _ = await Vendor.update_or_create(
        site=site,
        key=key,
        defaults={
            "name": name,
            "country": country.upper() if country else None,
            "privacy_policy_url": check_url(
                privacy_policy_url, "the vendor's privacy policy URL", path_ok=False
            ),
            "transfers_outside_eea": transfers_outside_eea,
            "transfer_basis": transfer_basis,
            "description": description or {},
        },
    )
    await InventoryItem.filter(vendor_id=vendor.id).update(vendor_sort=vendor_sort(name))
    return vendor


async def add_item(
    site: Site,
    *,
    name: str,
    kind: str = "cookie",
    purpose: str | None = None,
    vendor: str | None = None,
    match: str = "exact",
    domain: str | None = None,
    duration_days: int | None = None,
    party: str = "first",
    description: dict[str, str] | None = None,
    source: str = "manual",
    review_status: str = "reviewed",
) -> InventoryItem:
    """Add (or update) an item, unaudited; ``purpose`` and ``vendor`` are keys on this site."""
    if kind not in ITEM_KINDS:
        raise InvalidRequest(f"kind must be one of {ITEM_KINDS}")
    if match not in ("exact", "prefix"):
        raise InvalidRequest("match must be 'exact' or 'prefix'")
    if party not in ("first", "third"):
        raise InvalidRequest("party must be 'first' or 'third'")
    purpose_row = None
    if purpose is not None:
        purpose_row = await Purpose.get_or_none(site=site, key=purpose)
        if purpose_row is None:
            raise InvalidRequest(f"no purpose {purpose!r} on this site")
    vendor_row = None
    if vendor is not None:
        vendor_row = await Vendor.get_or_none(site=site, key=vendor)
        if vendor_row is None:
            raise InvalidRequest(f"no vendor {vendor!r} on this site")
    item, _ = await InventoryItem.update_or_create(
        site=site,
        kind=kind,
        name=name,
        domain=domain,
        defaults={
            "match": match,
            "vendor": vendor_row,
            "vendor_sort": vendor_sort(vendor_row.name if vendor_row else None),
            "purpose": purpose_row,
            "duration_days": duration_days,
            "party": party,
            "description": description or {},
            "source": source,
            "review_status": review_status,
        },
    )
    return item
