"""Where the receipt writer reads and writes its batches: one implementation per database,
chosen once when a writer lane starts (as uvicorn's ``auto.py`` picks its loop).

The writer needs an insert that is checked (nothing of the batch stored yet, each visitor's
last receipt as expected) and a read for when the check fails. On PostgreSQL each is one
prepared statement on a connection the lane keeps, the batch sent as one JSON parameter: no
BEGIN/COMMIT round trips and no pool reset per batch. SQLite is in-process and has one
connection, so it goes through the ORM. On both, unique indexes (migration 0005) refuse a
second chain for a visitor, whatever wrote it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol
from uuid import UUID

import asyncpg  # type: ignore[import-untyped]
import orjson
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from ..models import ConsentReceipt

__all__ = ["KnownReceipt", "NewReceipt", "ReceiptStore", "open_store"]


class KnownReceipt(NamedTuple):
    """What the writer needs of a stored receipt: idempotency and the chain."""

    receipt_id: UUID
    consent_id: UUID
    site_id: int
    content_hash: str
    record_hash: str
    recorded_at: datetime
    expires_at: datetime


@dataclass(slots=True)
class NewReceipt:
    """A receipt row about to be inserted: every stored column but the serial id. The writer
    sets ``record_hash`` last, as it covers the other fields."""

    receipt_id: UUID
    consent_id: UUID
    site_id: int
    config_version: int
    texts_hash: str
    language: str
    choices: dict[str, bool]
    method: str
    layer: str
    page_url: str
    recorded_at: datetime
    expires_at: datetime
    user_agent: str
    ip_truncated: str | None
    previous_receipt_id: UUID | None
    content_hash: str
    record_hash: str = ""

    def known(self) -> KnownReceipt:
        return KnownReceipt(self.receipt_id, self.consent_id, self.site_id, self.content_hash,
                            self.record_hash, self.recorded_at, self.expires_at)


class ReceiptStore(Protocol):
    async def known(self, receipt_ids: list[UUID], consent_ids: list[UUID]) -> list[KnownReceipt]:
        """The stored receipts with one of ``receipt_ids``, and each visitor's last stored
        receipt (or more of theirs), in the order they were stored."""

    async def insert_if_current(
        self, rows: list[NewReceipt], receipt_ids: list[UUID], last: dict[UUID, UUID | None]
    ) -> bool:
        """Insert all of ``rows``, in order, if none of ``receipt_ids`` is stored and each
        visitor's last stored receipt is the one in ``last`` (None: no receipts); False,
        having written nothing, if not."""

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
        ).order_by("id").values_list(*KnownReceipt._fields)
        return [KnownReceipt(*row) for row in rows]

    async def _insert(self, rows: list[NewReceipt]) -> None:
        # One multi-row INSERT, which the driver runs as one transaction.
        await ConsentReceipt.bulk_create(
            [ConsentReceipt(**{f: getattr(r, f) for f in _COLUMNS}) for r in rows]
        )

    async def insert_if_current(
        self, rows: list[NewReceipt], receipt_ids: list[UUID], last: dict[UUID, UUID | None]
    ) -> bool:
        stored = await self.known(receipt_ids, list(last))
        ids = set(receipt_ids)
        latest = {k.consent_id: k.receipt_id for k in stored}
        if any(k.receipt_id in ids for k in stored) or any(
            latest.get(c) != expected for c, expected in last.items()
        ):
            return False
        try:
            await self._insert(rows)
        except IntegrityError:  # another process wrote first (unique ids and chain links)
            return False
        return True

    async def close(self) -> None:
        pass


_COLUMNS = tuple(NewReceipt.__dataclass_fields__)
_PG_TYPES = {
    "receipt_id": "uuid", "consent_id": "uuid", "site_id": "int", "config_version": "int",
    "choices": "jsonb", "recorded_at": "timestamptz", "expires_at": "timestamptz",
    "previous_receipt_id": "uuid",
}
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
    f"INSERT INTO consent_receipt ({', '.join(_COLUMNS)}) SELECT {', '.join(_COLUMNS)}"
    " FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS ("
    + ", ".join(f"{c} {_PG_TYPES.get(c, 'text')}" for c in _COLUMNS)
    + f")) WITH ORDINALITY AS batch({', '.join(_COLUMNS)}, n)"
)
# The same insert, made only if each visitor's last receipt is the expected one ($2, $3): a
# compare-and-set in one statement. The index on (consent_id, id) finds each visitor's last
# receipt in one step, whatever the plan. A receipt id already stored is left to the unique
# index: checking it here too cost more than the insert, as the cached generic plan for
# ``receipt_id = ANY($n)``, made while the table was small, scanned the whole table.
_PG_INSERT_IF_CURRENT = (
    "WITH expected(consent_id, last_id) AS (SELECT * FROM unnest($2::uuid[], $3::uuid[])),"
    " clash AS (SELECT 1 FROM expected e LEFT JOIN LATERAL (SELECT receipt_id"
    " FROM consent_receipt c WHERE c.consent_id = e.consent_id ORDER BY c.id DESC LIMIT 1) r"
    " ON true WHERE r.receipt_id IS DISTINCT FROM e.last_id) "
    + _PG_INSERT + " WHERE NOT EXISTS (SELECT 1 FROM clash) ORDER BY n"
)


class PostgresStore:
    """Keeps one pooled connection for the lane's life, and takes a new one if it breaks."""

    def __init__(self, client: BaseDBAsyncClient) -> None:
        self._client = client
        self._held: contextlib.AsyncExitStack | None = None
        self._conn: Any = None

    async def _connection(self) -> Any:
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        await self.close()
        stack = contextlib.AsyncExitStack()
        self._conn = await stack.enter_async_context(self._client.acquire_connection())
        self._held = stack
        return self._conn

    async def known(self, receipt_ids: list[UUID], consent_ids: list[UUID]) -> list[KnownReceipt]:
        conn = await self._connection()
        rows = await conn.fetch(_PG_KNOWN, receipt_ids, consent_ids)
        # asyncpg's own UUID type is not uuid.UUID (orjson, for one, cannot write it).
        return [
            KnownReceipt(UUID(int=r[0].int), UUID(int=r[1].int), *r[2:]) for r in rows
        ]

    async def insert_if_current(
        self, rows: list[NewReceipt], receipt_ids: list[UUID], last: dict[UUID, UUID | None]
    ) -> bool:
        conn = await self._connection()
        try:
            status = await conn.execute(
                _PG_INSERT_IF_CURRENT, orjson.dumps(rows).decode(), list(last), list(last.values())
            )
        except asyncpg.UniqueViolationError:
            # A receipt id sent before, or a chain another writer has just extended (the
            # unique indexes of 0005): nothing was written.
            return False
        inserted = int(status.rsplit(" ", 1)[1])  # "INSERT 0 <rows>"
        return inserted == len(rows)

    async def close(self) -> None:
        held, self._held, self._conn = self._held, None, None
        if held is not None:
            with contextlib.suppress(Exception):  # a broken connection is dropped by the pool
                await held.aclose()
