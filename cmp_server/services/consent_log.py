"""The consent log: finding receipts, one receipt as proof, and a visitor's whole history.

What a regulator or a visitor asks for (EDPB guidelines 05/2020 §108: keep a copy of what was
presented, refusals too): which receipts a visitor has, what each one recorded, whether the
stored record is intact, and the exact words the visitor was shown, rendered again from the
stored config version (never today's draft) and checked against the hash on the receipt.

Searching is keyset-paged, newest first, on (recorded_at, id): the (site_id, recorded_at)
index answers a page in one short range scan whatever the table's size, and the
(consent_id, id) and unique receipt_id indexes a search by id. Filters without an index
(method, language, a purpose's decision) are applied within a *window*: at most ``WINDOW``
receipts of the indexed range are examined per page, so a filter that matches rarely costs
the same as one that matches often; when a window ends before a page is full, the page says how
far back it searched and offers to search on (see BENCHMARKS.md, "Consent log search").

The conditions are written once (``Where``) and used by the search, the count and the export
(``services/export.py``), on both databases: only the placeholder and the test of a purpose's
decision differ (the database's ``Dialect``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from tortoise import connections

from .. import db
from .._utils import canonical_json, sha256_hex
from ..dialects import Dialect
from ..errors import ConsentNotFound, InvalidRequest, NotFound
from ..models import ConfigVersion, ConsentReceipt, Site
from ..schemas import METHODS
from .publishing import parse_config, texts_for_language
from .verify import ALTERED, NOT_PREDECESSOR, PREDECESSOR_PURGED, check_link, repairs

__all__ = [
    "METHODS",
    "PAGE",
    "WINDOW",
    "Cursor",
    "HashCheck",
    "LogPage",
    "ReceiptFilter",
    "ReceiptProof",
    "ShownTexts",
    "VisitorHistory",
    "count",
    "receipt_proof",
    "search",
    "shown_texts",
    "visitor_history",
]

PAGE = 50
WINDOW = 20_000
_PURPOSE = re.compile(r"[a-z0-9_-]{1,40}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_CONVERTED = frozenset(
    {"receipt_id", "consent_id", "previous_receipt_id", "recorded_at", "expires_at", "choices"}
)


@dataclass(frozen=True)
class ReceiptFilter:
    """What to look for; every field left None matches everything. ``start`` is inclusive,
    ``end`` exclusive; ``granted`` is the decision on ``purpose`` (both or neither)."""

    consent_id: UUID | None = None
    receipt_id: UUID | None = None
    start: datetime | None = None
    end: datetime | None = None
    method: str | None = None
    language: str | None = None
    purpose: str | None = None
    granted: bool | None = None

    def __post_init__(self) -> None:
        if self.method is not None and self.method not in METHODS:
            raise InvalidRequest(f"method must be one of {', '.join(METHODS)}")
        if self.language is not None and not _LANGUAGE.fullmatch(self.language):
            raise InvalidRequest(f"not a language tag: {self.language!r}")
        if (self.purpose is None) != (self.granted is None):
            raise InvalidRequest("a purpose filter needs both the purpose and the decision")
        if self.purpose is not None and not _PURPOSE.fullmatch(self.purpose):
            raise InvalidRequest(f"not a purpose key: {self.purpose!r}")
        for moment in (self.start, self.end):
            if moment is not None and moment.tzinfo is None:
                raise InvalidRequest("times must carry a time zone")
        if self.start and self.end and self.start >= self.end:
            raise InvalidRequest("the range must end after it starts")

    @property
    def narrowing(self) -> bool:
        """Whether a filter without an index is set (applied within a window)."""
        return any(v is not None for v in (self.method, self.language, self.purpose))

    @property
    def by_id(self) -> bool:
        """A search by receipt or consent id: an index finds the few rows directly."""
        return self.receipt_id is not None or self.consent_id is not None

    def describe(self) -> dict[str, Any]:
        """The filter as plain values, for the audit log."""
        out: dict[str, Any] = {}
        for name in ("consent_id", "receipt_id", "method", "language", "purpose", "granted"):
            value = getattr(self, name)
            if value is not None:
                out[name] = str(value) if isinstance(value, UUID) else value
        for name in ("start", "end"):
            moment = getattr(self, name)
            if moment is not None:
                out[name] = moment.astimezone(UTC).isoformat()
        return out


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the last receipt's (recorded_at, id). Written ``<micros>.<id>``."""

    recorded_at: datetime
    id: int

    def __str__(self) -> str:
        return f"{(self.recorded_at - _EPOCH) // _MICRO}.{self.id}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        found = re.fullmatch(r"(\d{1,16})\.(\d{1,18})", text)
        if found is None:
            raise InvalidRequest("not a page position")
        micros, ident = int(found[1]), int(found[2])
        try:
            return cls(_EPOCH + micros * _MICRO, ident)
        except OverflowError:
            raise InvalidRequest("not a page position") from None

    @classmethod
    def of(cls, row: ConsentReceipt) -> Cursor:
        return cls(row.recorded_at, row.id)


@dataclass
class _Sql:
    """Parameters collected in order, each written as its database's placeholder."""

    dialect: Dialect = field(default_factory=db.dialect)
    params: list[Any] = field(default_factory=list)

    def param(self, value: Any) -> str:
        self.params.append(value)
        return self.dialect.placeholder(len(self.params))

    async def rows(self, query: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await connections.get("default").execute_query_dict(
            query, self.params
        )
        return found

    async def ids(self, query: str) -> list[int]:
        return [int(r["id"]) for r in await self.rows(query)]


def _indexed(sql: _Sql, site: Site, where: ReceiptFilter) -> list[str]:
    """The conditions an index answers: site, ids, the time range."""
    parts = [f"site_id = {sql.param(site.id)}"]
    if where.receipt_id is not None:
        parts.append(f"receipt_id = {sql.param(str(where.receipt_id))}")
    if where.consent_id is not None:
        parts.append(f"consent_id = {sql.param(str(where.consent_id))}")
    if where.start is not None:
        parts.append(f"recorded_at >= {sql.param(where.start.astimezone(UTC))}")
    if where.end is not None:
        parts.append(f"recorded_at < {sql.param(where.end.astimezone(UTC))}")
    return parts


def _narrowing(sql: _Sql, where: ReceiptFilter) -> list[str]:
    parts = []
    if where.method is not None:
        parts.append(f"method = {sql.param(where.method)}")
    if where.language is not None:
        parts.append(f"language = {sql.param(where.language)}")
    if where.purpose is not None and where.granted is not None:
        parts.append(sql.dialect.decision(sql.param, where.purpose, where.granted))
    return parts


def _after(sql: _Sql, cursor: Cursor | None, order: Literal["asc", "desc"]) -> list[str]:
    """Past the cursor in ``order``. The bound on recorded_at alone is what the index range
    uses; the second condition steps over the rows of the same instant already shown (a batch
    of the writer shares one)."""
    if cursor is None:
        return []
    at = cursor.recorded_at.astimezone(UTC)
    first, strict, id_op = (">=", ">", ">") if order == "asc" else ("<=", "<", "<")
    return [
        f"recorded_at {first} {sql.param(at)}",
        f"(recorded_at {strict} {sql.param(at)} OR id {id_op} {sql.param(cursor.id)})",
    ]


def _order(order: Literal["asc", "desc"]) -> str:
    return f"ORDER BY recorded_at {order.upper()}, id {order.upper()}"


async def matching_ids(
    site: Site,
    where: ReceiptFilter,
    *,
    after: Cursor | None,
    limit: int,
    order: Literal["asc", "desc"] = "desc",
) -> list[int]:
    """Ids of the next ``limit`` receipts past ``after``, every filter applied in the query
    (the export: it reads everything in the range anyway)."""
    sql = _Sql()
    conditions = [*_indexed(sql, site, where), *_after(sql, after, order), *_narrowing(sql, where)]
    return await sql.ids(
        f"SELECT id FROM consent_receipt WHERE {' AND '.join(conditions)} {_order(order)}"
        f" LIMIT {int(limit)}"
    )


async def page_rows(
    site: Site,
    where: ReceiptFilter,
    columns: tuple[str, ...],
    *,
    after: Cursor | None,
    limit: int,
    order: Literal["asc", "desc"] = "asc",
) -> list[dict[str, Any]]:
    """The next ``limit`` receipts past ``after`` as dicts of ``columns`` (and ``id``,
    ``recorded_at``), every filter applied, values as the model reads them: one statement per
    page, for the export."""
    names = ("id", "recorded_at", *(c for c in columns if c not in ("id", "recorded_at")))
    sql = _Sql()
    conditions = [*_indexed(sql, site, where), *_after(sql, after, order), *_narrowing(sql, where)]
    rows = await sql.rows(
        f"SELECT {', '.join(names)} FROM consent_receipt WHERE {' AND '.join(conditions)}"
        f" {_order(order)} LIMIT {int(limit)}"
    )
    fields = ConsentReceipt._meta.fields_map
    # Text and numbers come back as they are; times, ids and JSON as each driver gives them.
    convert = [(n, fields[n].to_python_value) for n in names if n in _CONVERTED]
    out = []
    for row in rows:
        values = dict(row)
        for name, to_python in convert:
            values[name] = to_python(values[name])
        out.append(values)
    return out


async def fetch(ids: list[int], order: Literal["asc", "desc"] = "desc") -> list[ConsentReceipt]:
    """The receipts of ``ids`` (from ``matching_ids``), in the log's order."""
    if not ids:
        return []
    rows = await ConsentReceipt.filter(id__in=ids)
    rows.sort(key=lambda r: (r.recorded_at, r.id), reverse=order == "desc")
    return rows


@dataclass(frozen=True)
class LogPage:
    receipts: list[ConsentReceipt]
    # Where the next page starts (None: this is the last).
    next: Cursor | None
    # The window ended before the page was full: the search got back to ``searched_to``
    # (the oldest receipt examined) and can go on from ``next``.
    searched_to: datetime | None = None


async def search(
    site: Site,
    where: ReceiptFilter,
    *,
    after: Cursor | None = None,
    limit: int = PAGE,
    window: int = WINDOW,
) -> LogPage:
    """A page of the log, newest first."""
    if not where.narrowing or where.by_id:
        ids = await matching_ids(site, where, after=after, limit=limit + 1)
        rows = await fetch(ids)
        more = len(rows) > limit
        rows = rows[:limit]
        return LogPage(rows, Cursor.of(rows[-1]) if more else None)
    # One statement: the window's matches, and its last receipt (pos = window) whether it
    # matches or not, which is where the next page goes on from when the matches run short.
    sql = _Sql()
    hit = " AND ".join(_narrowing(sql, where))  # placeholders in the order of the text
    inner = " AND ".join([*_indexed(sql, site, where), *_after(sql, after, "desc")])
    outer = " AND ".join(_narrowing(sql, where))
    found = await sql.rows(
        f"SELECT id, pos, CASE WHEN {hit} THEN 1 ELSE 0 END AS hit FROM ("
        f"SELECT id, recorded_at, method, language, choices,"
        f" row_number() OVER ({_order('desc')}) AS pos"
        f" FROM consent_receipt WHERE {inner} {_order('desc')} LIMIT {int(window)}) w"
        f" WHERE ({outer}) OR pos = {int(window)} {_order('desc')} LIMIT {int(limit) + 2}"
    )
    matches = [int(r["id"]) for r in found if r["hit"]]
    edge = [int(r["id"]) for r in found if r["pos"] == window]
    rows = await fetch(matches + edge)
    by_id = {r.id: r for r in rows}
    page = [by_id[i] for i in matches]
    if len(page) > limit:
        page = page[:limit]
        return LogPage(page, Cursor.of(page[-1]))
    if not edge:
        return LogPage(page, None)
    last = by_id[edge[0]]
    return LogPage(page, Cursor.of(last), searched_to=last.recorded_at)


async def count(site: Site, where: ReceiptFilter) -> int:
    """How many receipts match, counted by the database (the export page shows it first)."""
    sql = _Sql()
    conditions = [*_indexed(sql, site, where), *_narrowing(sql, where)]
    rows = await connections.get("default").execute_query_dict(
        f"SELECT count(*) AS n FROM consent_receipt WHERE {' AND '.join(conditions)}", sql.params
    )
    return int(rows[0]["n"])


# One receipt as proof.


@dataclass(frozen=True)
class ShownTexts:
    """What the visitor was shown, rendered from the stored version in their language."""

    version: int
    published_at: datetime
    published_by: str | None
    language: str
    texts: dict[str, Any]
    texts_hash: str  # sha256 of ``texts``, recomputed now

    def matches(self, receipt: ConsentReceipt) -> bool:
        return self.texts_hash == receipt.texts_hash


async def shown_texts(
    site: Site, version: int, language: str, *, cache: dict[int, ConfigVersion | None] | None = None
) -> ShownTexts | None:
    """None when the site has no such version (it never does for a stored receipt: versions
    are never deleted)."""
    cache = {} if cache is None else cache
    if version not in cache:
        cache[version] = await ConfigVersion.get_or_none(site_id=site.id, number=version)
    stored = cache[version]
    if stored is None:
        return None
    texts = texts_for_language(parse_config(stored), language)
    return ShownTexts(
        version=stored.number,
        published_at=stored.published_at,
        published_by=stored.published_by,
        language=language,
        texts=texts,
        texts_hash=sha256_hex(canonical_json(texts)),
    )


HashCheck = Literal["verified", "altered", "not_predecessor", "predecessor_purged"]
_CHECKS: dict[str | None, HashCheck] = {
    None: "verified", ALTERED: "altered", NOT_PREDECESSOR: "not_predecessor",
    PREDECESSOR_PURGED: "predecessor_purged",
}


@dataclass(frozen=True)
class ReceiptProof:
    receipt: ConsentReceipt
    # The chain's neighbours: the visitor's receipts on this site just before and after it.
    previous: ConsentReceipt | None
    next: ConsentReceipt | None
    # verified: the record hash, recomputed over its fields and its predecessor's hash, is the
    # stored one; altered: it is not; not_predecessor: it links to a receipt that is not the
    # visitor's previous one on this site; predecessor_purged: the receipt it links to is gone
    # (retention), so it starts the verifiable chain.
    check: HashCheck
    shown: ShownTexts | None
    # Stored before chains were per site, it links to the visitor's receipt on another site
    # (``verify.Repair``): its predecessor here is the one migration 0017 recorded.
    repaired: bool = False


def _parse_id(text: str, what: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise NotFound(f"no {what} {text[:40]!r}") from None


async def receipt_proof(site: Site, receipt_id: str | UUID) -> ReceiptProof:
    ident = receipt_id if isinstance(receipt_id, UUID) else _parse_id(receipt_id, "receipt")
    row = await ConsentReceipt.get_or_none(site_id=site.id, receipt_id=ident)
    if row is None:
        raise NotFound(f"no receipt {ident} on this site")
    chain = ConsentReceipt.filter(site_id=site.id, consent_id=row.consent_id)
    previous = await chain.filter(id__lt=row.id).order_by("-id").first()
    following = await chain.filter(id__gt=row.id).order_by("id").first()
    repair = (await repairs([row.receipt_id])).get(row.receipt_id)
    check = _CHECKS[check_link(row, site.key, previous, repair)]
    shown = await shown_texts(site, row.config_version, row.language)
    return ReceiptProof(row, previous, following, check, shown, repaired=repair is not None)


# A visitor's whole history.


@dataclass(frozen=True)
class HistoryEntry:
    receipt: ConsentReceipt
    check: HashCheck
    texts_match: bool | None  # None: the version is not stored


@dataclass(frozen=True)
class VisitorHistory:
    consent_id: UUID
    entries: list[HistoryEntry]
    texts: dict[tuple[int, str], ShownTexts]  # (version, language) → what was shown

    @property
    def ok(self) -> bool:
        return all(
            e.check in ("verified", "predecessor_purged") and e.texts_match for e in self.entries
        )


async def visitor_history(site: Site, consent_id: str | UUID) -> VisitorHistory:
    """Every stored receipt of one visitor, oldest first, each checked against the one before
    (as ``verify.verify_receipts`` checks a whole site), with the texts of each version and
    language they saw."""
    ident = consent_id if isinstance(consent_id, UUID) else _parse_id(consent_id, "consent id")
    rows = await ConsentReceipt.filter(site_id=site.id, consent_id=ident).order_by("id")
    if not rows:
        raise ConsentNotFound(f"no receipts for consent id {ident} on this site")
    versions: dict[int, ConfigVersion | None] = {}
    texts: dict[tuple[int, str], ShownTexts] = {}
    entries = []
    fixed = await repairs(row.receipt_id for row in rows)
    previous: ConsentReceipt | None = None
    for row in rows:
        check = _CHECKS[check_link(row, site.key, previous, fixed.get(row.receipt_id))]
        key = (row.config_version, row.language)
        if key not in texts:
            shown = await shown_texts(site, *key, cache=versions)
            if shown is not None:
                texts[key] = shown
        entries.append(
            HistoryEntry(row, check, texts[key].matches(row) if key in texts else None)
        )
        previous = row
    return VisitorHistory(ident, entries, texts)
