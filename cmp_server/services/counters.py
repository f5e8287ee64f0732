"""Consent counters: receipts counted per site, UTC day, method and purpose, so that the
consent-rate chart reads a few rows per day instead of grouping the raw receipts per view.

Each ``consent_daily`` row counts, for one site, day and method:

- ``purpose = ''``: the receipts given with that method (``receipts``; ``granted`` is 0);
- ``purpose = <key>``: the receipts that decided on that purpose (the key was among their
  choices) and how many of them granted it. A purpose's granted rate is ``granted /
  receipts``: among the receipts that decided on it, the share that said yes.

The unique index (site, purpose, day, method) is the one the reads use: a site's outcomes
are ``purpose = ''`` and a day range, its purposes ``purpose > ''`` and a day range, each one
contiguous range of the index.

**Kept exact, in the receipts' own transaction.** The receipt writer adds the counts of the
rows it inserts (``tally``) in the statement or transaction that inserts them (the database's
receipt store, ``dialects/``), with an upsert that adds to what is stored (``count = count +
EXCLUDED.count``), which is correct with any number of writers: the row lock serialises the
additions, and each statement takes its counter rows in one order (that of the index), so two
cannot deadlock. A receipt sent again, or a batch that gives way to another writer, inserts
nothing and counts nothing; a batch the database refuses rolls its counts back with it.

**Recounted from the receipts** by ``recount``: after this table is added to a database that
already holds receipts (migration 0009 does it once), or when receipts are to be left out of
the counts later (say, flagged as scanner traffic: add the condition to ``_COUNTED`` and to
``tally``, then recount the days concerned). Counters hold no personal data, so the retention
purge leaves them: the chart keeps the history after the receipts are gone, and a recount
never reaches back past a purge (those receipts are gone; their counts are what remains).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from .. import db, dialects
from .._utils import utcnow
from ..dialects import COUNTS_COLUMNS
from ..errors import InvalidRequest
from ..models import ConsentDaily, ConsentReceipt, PurgeLog, Site
from . import audit

if TYPE_CHECKING:
    from .receipt_store import NewReceipt
    from .staff import Actor

__all__ = [
    "TOTAL",
    "Count",
    "RecountResult",
    "add_counts",
    "raw_counts",
    "recount",
    "stored_counts",
    "tally",
]

TOTAL = ""  # the purpose of the row that counts a method's receipts


class Count(NamedTuple):
    site_id: int
    day: date
    method: str
    purpose: str  # TOTAL, or a purpose key
    receipts: int
    granted: int


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def tally(rows: Iterable[NewReceipt]) -> list[Count]:
    """The counts of receipts about to be inserted, in the order of the unique index (the
    order the upsert takes its row locks in). Runs for every batch the writer inserts: a few
    microseconds a receipt (a batch's receipts share their moment, so its day is found once)."""
    counts: dict[tuple[int, str, date, str], list[int]] = {}
    days: dict[datetime, date] = {}
    for row in rows:
        at = row.recorded_at
        day = days.get(at) or days.setdefault(at, utc_day(at))
        site_id, method = row.site_id, row.method
        key = (site_id, TOTAL, day, method)
        if (count := counts.get(key)) is None:
            count = counts[key] = [0, 0]
        count[0] += 1
        for purpose, choice in row.choices.items():
            key = (site_id, purpose, day, method)
            if (count := counts.get(key)) is None:
                count = counts[key] = [0, 0]
            count[0] += 1
            count[1] += choice is True
    return [
        Count(site_id, day, method, purpose, n, granted)
        for (site_id, purpose, day, method), (n, granted) in sorted(counts.items())
    ]


# ------------------------------------------------------------------------------ adding counts


async def add_counts(
    conn: BaseDBAsyncClient, counts: list[Count], *, replace: bool = False
) -> None:
    """Add ``counts`` in the transaction ``conn`` is in, or with ``replace`` set them (an
    upsert that adds to what is stored, ``count = count + EXCLUDED.count``, or sets it and
    writes only the rows that differ: recounting counters that are right writes nothing)."""
    await dialects.add_counts(db.dialect(), conn, counts, replace=replace)


# ----------------------------------------------------------------------- counting the receipts

# Which receipts count. Every receipt today; a receipt found later to be no visitor's (scanner
# traffic, say) would be left out here and in ``tally``, and its days recounted.
_COUNTED = "TRUE"


def _raw_query(site_id: int, start: date, end: date) -> tuple[str, list[Any]]:
    """Each counted receipt of the site and days once as itself (purpose '') and once per
    purpose it decided on, grouped as the counters are."""
    return db.dialect().raw_counts(site_id, start, end, _COUNTED)


def _count(row: Any) -> Count:
    day = row["day"]
    return Count(
        int(row["site_id"]), day if isinstance(day, date) else date.fromisoformat(day),
        row["method"], row["purpose"], int(row["receipts"]), int(row["granted"] or 0),
    )


async def raw_counts(site: Site, start: date, end: date) -> list[Count]:
    """The counts as the receipts of ``start`` to ``end`` (UTC days, both included) give them,
    by grouping the raw receipts: what the counters must equal. Sorted as ``tally``."""
    query, values = _raw_query(site.id, start, end)
    _, rows = await connections.get("default").execute_query(query, values)
    return sorted((_count(r) for r in rows), key=_index_order)


async def stored_counts(site: Site, start: date, end: date) -> list[Count]:
    """The counters of ``start`` to ``end`` as stored, sorted as ``tally``."""
    rows = await ConsentDaily.filter(site_id=site.id, day__gte=start, day__lte=end).values(
        *COUNTS_COLUMNS
    )
    return sorted((_count(r) for r in rows), key=_index_order)


def _index_order(c: Count) -> tuple[int, str, date, str]:
    return (c.site_id, c.purpose, c.day, c.method)


@dataclass(frozen=True)
class RecountResult:
    site_key: str
    start: date | None  # None: nothing to recount (no receipts, no counters)
    end: date | None
    receipts: int  # receipts counted
    rows: int  # counter rows of the days recounted


async def _purged_until(site: Site) -> date | None:
    """The last day a purge reached into: its receipts are partly gone, so its counts stay."""
    cutoff = await PurgeLog.filter(site_id=site.id).order_by("-cutoff").first().values_list(
        "cutoff", flat=True
    )
    return utc_day(cutoff) if isinstance(cutoff, datetime) else None


async def _extent(site: Site) -> tuple[date | None, date | None]:
    """The first and last day with receipts or counters (each found by an index)."""
    days: list[date] = []
    receipts = ConsentReceipt.filter(site_id=site.id)
    for order in ("recorded_at", "-recorded_at"):
        moment = await receipts.order_by(order).first().values_list("recorded_at", flat=True)
        if isinstance(moment, datetime):
            days.append(utc_day(moment))
    counters = ConsentDaily.filter(site_id=site.id)
    for order in ("day", "-day"):
        day = await counters.order_by(order).first().values_list("day", flat=True)
        if isinstance(day, date):
            days.append(day)
    return (min(days), max(days)) if days else (None, None)


_CHUNK_DAYS = 7


async def recount(
    site: Site,
    start: date | None = None,
    end: date | None = None,
    *,
    by: Actor | None = None,
    chunk_days: int = _CHUNK_DAYS,
) -> RecountResult:
    """Count the site's receipts of ``start`` to ``end`` (UTC days, both included) again and
    replace the counters of those days with the result. By default every day that has
    receipts or counters, after the last purge.

    A week at a time, each in its own transaction, which holds off the receipt writers (a
    lock on the counter table) so that no receipt is written between the count and the
    write: a short pause for the live writers, not one as long as the whole recount. Only
    counters that differ are written (and those of no receipt deleted): a recount of right
    counters leaves the table as it was. Days at or before the last purge are refused: their
    receipts are (partly) gone, and their counters are all that remains of them."""
    purged = await _purged_until(site)
    first, last = await _extent(site)
    if start is None:
        start = first if purged is None or first is None else max(first, purged + timedelta(1))
    elif purged is not None and start <= purged:
        raise InvalidRequest(
            f"receipts up to {purged.isoformat()} were purged: their counts are kept as they"
            f" are; recount from {(purged + timedelta(1)).isoformat()} on"
        )
    if end is None:
        end = max(last, utc_day(utcnow())) if last is not None else utc_day(utcnow())
    if start is None or start > end:
        return RecountResult(site.key, None, None, 0, 0)
    receipts = rows = 0
    chunk = start
    while chunk <= end:
        chunk_end = min(end, chunk + timedelta(days=chunk_days - 1))
        async with in_transaction() as conn:
            await db.dialect().lock_counters(conn)  # the writers wait until commit
            query, values = _raw_query(site.id, chunk, chunk_end)
            _, found = await conn.execute_query(query, values)
            counts = sorted((_count(r) for r in found), key=_index_order)
            kept = {(c.day, c.method, c.purpose) for c in counts}
            stored = ConsentDaily.filter(site_id=site.id, day__gte=chunk, day__lte=chunk_end)
            stale = [
                row_id for row_id, day, method, purpose in await stored.using_db(conn)
                .values_list("id", "day", "method", "purpose")
                if (day, method, purpose) not in kept
            ]
            if stale:
                await ConsentDaily.filter(id__in=stale).using_db(conn).delete()
            await add_counts(conn, counts, replace=True)
            receipts += sum(c.receipts for c in counts if c.purpose == TOTAL)
            rows += len(counts)
            if chunk_end == end:
                await audit.record(
                    by, "recount_consents", "site", site.key, site=site,
                    after={"start": start.isoformat(), "end": end.isoformat(),
                           "receipts": receipts, "rows": rows},
                )
        chunk = chunk_end + timedelta(days=1)
    return RecountResult(site.key, start, end, receipts, rows)
