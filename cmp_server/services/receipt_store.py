"""Where the receipt writer reads and writes its batches: one implementation per database,
chosen once when a writer lane starts (as uvicorn's ``auto.py`` picks its loop).

The writer needs an insert that is checked (nothing of the batch stored yet, each visitor's
last receipt as expected) and a read for when the check fails; the insert adds the batch's
consent counters (``counters.tally``) in the same statement or transaction. On PostgreSQL each
is one prepared statement on a connection the lane keeps, the batch sent as one JSON parameter: no
BEGIN/COMMIT round trips and no pool reset per batch. SQLite is in-process and has one
connection, so it goes through the ORM. On both, unique indexes (migration 0005) refuse a
second chain for a visitor, whatever wrote it.

A store call ends in one of three ways: done; ``RowsRefused`` (the database refused a value of
the batch, the statement failed as a whole and wrote nothing); or any other exception, which is
trouble with the database itself (a restart, a killed backend, a lost connection, a timeout):
an insert's outcome is then unknown, and the store has let go of its connection, so the next
call takes a new one.

``NewReceipt`` is the one list of a receipt's stored columns: the insert, the row read back, the
fields copied from what the client sent and the fields the record hash covers all come from it
(a test holds the model and the migrations to it).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, NamedTuple, Protocol
from uuid import UUID

import asyncpg  # type: ignore[import-untyped]
import orjson
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from ..models import ConsentReceipt
from . import counters

__all__ = [
    "COLUMNS",
    "HASHED",
    "SENT",
    "KnownReceipt",
    "NewReceipt",
    "ReceiptStore",
    "RowsRefused",
    "open_store",
]

# Longer than any batch takes; a statement past it is on a connection that went silent (a
# failover that dropped packets instead of closing): the lane must not wait on it for ever.
_STATEMENT_TIMEOUT = 10.0


class RowsRefused(Exception):
    """The database refused a value in the batch (a constraint, a value it cannot store):
    nothing of the batch was written. A part of the batch without that receipt may go in."""


class KnownReceipt(NamedTuple):
    """What the writer needs of a stored receipt: idempotency and the chain."""

    receipt_id: UUID
    consent_id: UUID
    site_id: int
    content_hash: str
    record_hash: str
    recorded_at: datetime
    expires_at: datetime


def _column(pg_type: str = "text", *, hashed: bool = True, sent: bool = False) -> Any:
    """A stored column: its PostgreSQL type in the batch insert, whether the record hash covers
    it (``receipts.record_hash``), whether it is copied from what the client sent (``ReceiptIn``
    has a field of that name)."""
    return field(metadata={"pg_type": pg_type, "hashed": hashed, "sent": sent})


@dataclass(slots=True)
class NewReceipt:
    """A receipt row about to be inserted: every stored column but the serial id, in the order
    of the insert. The writer sets ``record_hash`` last, as it covers the other fields."""

    receipt_id: UUID = _column("uuid", sent=True)
    consent_id: UUID = _column("uuid", sent=True)
    # Hashed as the site's key, which an auditor knows, not its serial id (record_hash).
    site_id: int = _column("int", hashed=False)
    config_version: int = _column("int", sent=True)
    texts_hash: str = _column()
    language: str = _column(sent=True)
    choices: dict[str, bool] = _column("jsonb", sent=True)
    method: str = _column(sent=True)
    layer: str = _column(sent=True)
    page_url: str = _column(sent=True)
    recorded_at: datetime = _column("timestamptz")
    expires_at: datetime = _column("timestamptz")
    user_agent: str = _column()
    ip_truncated: str | None = _column()
    previous_receipt_id: UUID | None = _column("uuid")
    content_hash: str = _column(hashed=False)
    record_hash: str = field(default="", metadata={"pg_type": "text", "hashed": False,
                                                   "sent": False})

    def known(self) -> KnownReceipt:
        return KnownReceipt(*(getattr(self, name) for name in KnownReceipt._fields))


_FIELDS = fields(NewReceipt)
COLUMNS = tuple(f.name for f in _FIELDS)
HASHED = tuple(f.name for f in _FIELDS if f.metadata["hashed"])
SENT = tuple(f.name for f in _FIELDS if f.metadata["sent"])
_PG_TYPES = {f.name: f.metadata["pg_type"] for f in _FIELDS}


class ReceiptStore(Protocol):
    async def known(self, receipt_ids: list[UUID], consent_ids: list[UUID]) -> list[KnownReceipt]:
        """The stored receipts with one of ``receipt_ids``, and each visitor's last stored
        receipt (or more of theirs), in the order they were stored."""

    async def insert_if_current(
        self, rows: list[NewReceipt], receipt_ids: list[UUID], last: dict[UUID, UUID | None]
    ) -> bool:
        """Insert all of ``rows``, in order, if none of ``receipt_ids`` is stored and each
        visitor's last stored receipt is the one in ``last`` (None: no receipts); False,
        having written nothing, if not. ``RowsRefused`` if the database refused a value."""

    async def close(self) -> None: ...


def open_store() -> ReceiptStore:
    client = connections.get("default")
    if client.capabilities.dialect == "postgres":
        return PostgresStore(client)
    return OrmStore()


class OrmStore:
    """SQLite: one connection in the process and one lane, so nothing writes between the
    check and the insert."""

    async def known(self, receipt_ids: list[UUID], consent_ids: list[UUID]) -> list[KnownReceipt]:
        rows = await ConsentReceipt.filter(
            Q(receipt_id__in=receipt_ids) | Q(consent_id__in=consent_ids)
        ).order_by("id").values(*KnownReceipt._fields)
        return [KnownReceipt(**row) for row in rows]

    async def _insert(self, rows: list[NewReceipt]) -> None:
        # One multi-row INSERT and the counters' upsert, in one transaction.
        async with in_transaction() as conn:
            await ConsentReceipt.bulk_create(
                [ConsentReceipt(**{c: getattr(r, c) for c in COLUMNS}) for r in rows],
                using_db=conn,
            )
            await counters.add_counts(conn, counters.tally(rows))

    async def _current(
        self, receipt_ids: list[UUID], last: dict[UUID, UUID | None]
    ) -> bool:
        stored = await self.known(receipt_ids, list(last))
        ids = set(receipt_ids)
        latest = {k.consent_id: k.receipt_id for k in stored}
        return not any(k.receipt_id in ids for k in stored) and all(
            latest.get(c) == expected for c, expected in last.items()
        )

    async def insert_if_current(
        self, rows: list[NewReceipt], receipt_ids: list[UUID], last: dict[UUID, UUID | None]
    ) -> bool:
        if not await self._current(receipt_ids, last):
            return False
        try:
            await self._insert(rows)
        except IntegrityError as exc:
            if not await self._current(receipt_ids, last):
                return False  # another process wrote first (unique ids and chain links)
            # Nothing raced: a constraint (or trigger) refused a value of these rows.
            raise RowsRefused(str(exc)) from exc
        return True

    async def close(self) -> None:
        pass


# Each lookup by itself (LIMIT keeps the planner from turning it into a join), so that the
# unique index and the (consent_id, id) index answer it whatever the planner knows.
# "receipt_id = ANY($1) OR consent_id = ANY($2)" scanned the whole table while it had no
# statistics yet (a fresh install, or after a truncate), and the cached plan kept doing so:
# 37 ms on 100,000 rows, against 0.6 ms now.
_KNOWN_FIELDS = ", ".join(("id", *KnownReceipt._fields))
_PG_KNOWN = (
    f"SELECT {', '.join(KnownReceipt._fields)} FROM ("
    f" SELECT c.* FROM unnest($1::uuid[]) AS r(receipt_id) JOIN LATERAL (SELECT {_KNOWN_FIELDS}"
    " FROM consent_receipt WHERE receipt_id = r.receipt_id LIMIT 1) c ON true"
    f" UNION SELECT c.* FROM unnest($2::uuid[]) AS v(consent_id) JOIN LATERAL (SELECT"
    f" {_KNOWN_FIELDS} FROM consent_receipt WHERE consent_id = v.consent_id"
    " ORDER BY id DESC LIMIT 1) c ON true"
    ") known ORDER BY id"
)
# The batch travels as one JSON array ($1), written by orjson straight from the dataclasses:
# encoding seventeen typed arrays cost asyncpg more than the rest of the insert.
# ``WITH ORDINALITY … ORDER BY``: serial ids follow the batch's order, which the chain relies on.
_PG_INSERT = (
    f"INSERT INTO consent_receipt ({', '.join(COLUMNS)}) SELECT {', '.join(COLUMNS)}"
    " FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS ("
    + ", ".join(f"{c} {_PG_TYPES[c]}" for c in COLUMNS)
    + f")) WITH ORDINALITY AS batch({', '.join(COLUMNS)}, n)"
)
# The same insert, made only if each visitor's last receipt is the expected one ($2, $3): a
# compare-and-set in one statement. The index on (consent_id, id) finds each visitor's last
# receipt in one step, whatever the plan. A receipt id already stored is left to the unique
# index: checking it here too cost more than the insert, as the cached generic plan for
# ``receipt_id = ANY($n)``, made while the table was small, scanned the whole table.
# The receipts' counts ($4, ``counters.tally``) are added in the same statement, on the same
# condition (``clash`` is one result for both), so they commit with the receipts or not at all.
_PG_INSERT_IF_CURRENT = (
    "WITH expected(consent_id, last_id) AS (SELECT * FROM unnest($2::uuid[], $3::uuid[])),"
    " clash AS (SELECT 1 FROM expected e LEFT JOIN LATERAL (SELECT receipt_id"
    " FROM consent_receipt c WHERE c.consent_id = e.consent_id ORDER BY c.id DESC LIMIT 1) r"
    " ON true WHERE r.receipt_id IS DISTINCT FROM e.last_id),"
    " counted AS (" + counters.pg_add_counts("$4", when="NOT EXISTS (SELECT 1 FROM clash)")
    + ") " + _PG_INSERT + " WHERE NOT EXISTS (SELECT 1 FROM clash) ORDER BY n"
)
# What a value of the batch makes the database refuse: class 22 (a value it cannot store: a
# NUL in text or JSON, too long for its column), class 23 (a constraint; unique ones are a
# race, caught before) and an exception a trigger raises. Anything else is the database's.
_REFUSALS = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError, asyncpg.RaiseError)


def _plain(value: Any) -> Any:
    # asyncpg's own UUID type is not uuid.UUID (orjson, for one, cannot write it).
    return UUID(int=value.int) if isinstance(value, UUID) else value


class PostgresStore:
    """Keeps one pooled connection for the lane's life, and takes a new one when it breaks."""

    def __init__(self, client: BaseDBAsyncClient) -> None:
        self._client = client
        self._held: contextlib.AsyncExitStack | None = None
        self._conn: Any = None

    async def _connection(self) -> Any:
        if self._conn is not None and _usable(self._conn):
            return self._conn
        await self.close()
        stack = contextlib.AsyncExitStack()
        self._conn = await stack.enter_async_context(self._client.acquire_connection())
        self._held = stack
        return self._conn

    async def _call(self, query: str, *args: Any, fetch: bool = False) -> Any:
        try:
            async with asyncio.timeout(_STATEMENT_TIMEOUT):
                conn = await self._connection()
                return await (conn.fetch if fetch else conn.execute)(query, *args)
        except (asyncpg.UniqueViolationError, *_REFUSALS):
            raise  # the statement failed; the connection is as good as before
        except BaseException:
            # A lost connection, a restart, a timeout, a cancel mid-statement: whatever state
            # the connection is in, it is not used again.
            await self._discard()
            raise

    async def known(self, receipt_ids: list[UUID], consent_ids: list[UUID]) -> list[KnownReceipt]:
        rows = await self._call(_PG_KNOWN, receipt_ids, consent_ids, fetch=True)
        return [KnownReceipt(**{name: _plain(value) for name, value in r.items()}) for r in rows]

    async def insert_if_current(
        self, rows: list[NewReceipt], receipt_ids: list[UUID], last: dict[UUID, UUID | None]
    ) -> bool:
        try:
            status = await self._call(
                _PG_INSERT_IF_CURRENT, orjson.dumps(rows).decode(), list(last),
                list(last.values()), counters.counts_json(counters.tally(rows)),
            )
        except asyncpg.UniqueViolationError:
            # A receipt id sent before, or a chain another writer has just extended (the
            # unique indexes of 0005): nothing was written.
            return False
        except _REFUSALS as exc:
            raise RowsRefused(f"{type(exc).__name__}: {exc}") from exc
        inserted = int(status.rsplit(" ", 1)[1])  # "INSERT 0 <rows>"
        return inserted == len(rows)

    async def _discard(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # already closed, or released under us
                self._conn.terminate()
        await self.close()

    async def close(self) -> None:
        held, self._held, self._conn = self._held, None, None
        if held is not None:
            with contextlib.suppress(Exception):  # a broken connection is dropped by the pool
                await held.aclose()


def _usable(conn: Any) -> bool:
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:
        # The pool took the connection back under us: its link to the server was lost (a
        # restart, a killed backend, an idle connection the server closed), and asyncpg
        # releases a lost connection by itself.
        return False
