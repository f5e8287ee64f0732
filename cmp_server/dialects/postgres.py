"""PostgreSQL (asyncpg): shared by many processes, several writers at once, jsonb."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import asyncpg  # type: ignore[import-untyped]
import orjson
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from . import (
    APPEND_STORED,
    COUNTS_COLUMNS,
    COUNTS_TABLE,
    SITES_BETWEEN,
    AppendedLeaf,
    ChainKey,
    CountRow,
    KnownReceipt,
    NodeRow,
    ReceiptStore,
    ReceiptTable,
    RowsRefused,
    on_conflict_counts,
)

__all__ = ["POSTGRES", "Postgres", "PostgresStore", "add_counts_statement"]


def add_counts_statement(param: str, *, when: str = "", replace: bool = False) -> str:
    """The upsert that adds the counts in the JSON array ``param`` (``CountRow``s as arrays,
    ``counts_json``), for the writer to make part of its insert statement; ``when`` is a
    condition on the rest of that statement (counts are added only if the receipts went in).
    ``replace``: set the counts instead of adding them."""
    types = ("int", "date", "text", "text", "int", "int")
    return (
        f"INSERT INTO {COUNTS_TABLE} ({', '.join(COUNTS_COLUMNS)}) SELECT "
        + ", ".join(f"(c->>{i})::{t}" for i, t in enumerate(types))
        + f" FROM jsonb_array_elements({param}::jsonb) AS c"
        + (f" WHERE {when}" if when else "")
        + " ORDER BY 1, 4, 2, 3"  # the unique index's order: site, purpose, day, method
        + on_conflict_counts(replace)
    )


def counts_json(counts: Sequence[CountRow]) -> str:
    return orjson.dumps([tuple(c) for c in counts]).decode()


# One pass over the receipts of a site and day range: each receipt once as itself (purpose
# '') and once per purpose it decided on.
_RAW_COUNTS = """
SELECT r.site_id, (r.recorded_at AT TIME ZONE 'UTC')::date AS day, r.method, c.purpose,
       count(*)::int AS receipts, (count(*) FILTER (WHERE c.granted))::int AS granted
FROM consent_receipt r
CROSS JOIN LATERAL (
    SELECT '' AS purpose, false AS granted
    UNION ALL
    SELECT key, value = 'true'::jsonb FROM jsonb_each(r.choices)
    WHERE jsonb_typeof(value) = 'boolean'
) c
WHERE r.site_id = $1 AND r.recorded_at >= $2 AND r.recorded_at < $3 AND {counted}
GROUP BY 1, 2, 3, 4
"""


class Postgres:
    name = "postgres"
    migrates_on_open = False
    concurrent_writers = True

    connection_options: Mapping[str, str] = {"maxsize": "20"}
    engine: str | None = None
    worker_connection_options: Mapping[str, str] = {}

    def prepare(self, url: str) -> None:
        pass  # a server's database: `cmp-server migrate` or the operator makes it

    def placeholder(self, n: int) -> str:
        return f"${n}"

    def decision(self, bind: Callable[[Any], str], purpose: str, granted: bool) -> str:
        # Containment on jsonb, evaluated on the rows the indexed range gives.
        return f"choices @> {bind(orjson.dumps({purpose: granted}).decode())}::jsonb"

    def upsert_counts(self, counts: Sequence[CountRow], replace: bool) -> tuple[str, list[Any]]:
        return add_counts_statement("$1", replace=replace), [counts_json(counts)]

    def raw_counts(
        self, site_id: int, start: date, end: date, counted: str
    ) -> tuple[str, list[Any]]:
        after = datetime.combine(start, time(), UTC)
        before = datetime.combine(end + timedelta(days=1), time(), UTC)
        return _RAW_COUNTS.format(counted=counted), [site_id, after, before]

    async def lock_counters(self, conn: BaseDBAsyncClient) -> None:
        # Blocks the writers' counter upserts (and so their inserts) until commit; readers go on.
        await conn.execute_script(f"LOCK TABLE {COUNTS_TABLE} IN SHARE ROW EXCLUSIVE MODE")

    def receipt_store(self, table: ReceiptTable) -> ReceiptStore:
        return PostgresStore(connections.get("default"), table)

    async def settled_top(self) -> int:
        # Every id up to the sequence's last value was drawn by a transaction in flight now
        # or ended already: once those in flight now have ended, each such receipt is
        # committed or never will be. Waiting for them holds no writer off (LOCK TABLE ... IN
        # SHARE MODE did, every run: the writers' loss with checkpointing on). A transaction
        # that stays open past SETTLE_WAIT (anything in the cluster: the snapshot does not
        # say what a transaction writes) gets the lock after all.
        conn = connections.get("default")
        # The sequence first, then the snapshot: an id drawn before the first read belongs
        # to a transaction that the snapshot shows in flight, or that has ended.
        _, rows = await conn.execute_query("SELECT last_value FROM consent_receipt_id_seq")
        top = int(rows[0][0])
        _, rows = await conn.execute_query(
            "SELECT ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(pg_current_snapshot()) x)")
        xids = list(rows[0][0])
        deadline = asyncio.get_running_loop().time() + _SETTLE_WAIT
        while xids:
            _, rows = await conn.execute_query(
                "SELECT x FROM unnest($1::bigint[]) AS x"
                " WHERE pg_xact_status(x::text::xid8) = 'in progress'", [xids])
            xids = [r[0] for r in rows]
            if not xids:
                break
            if asyncio.get_running_loop().time() > deadline:
                async with in_transaction() as locked:
                    await locked.execute_script("LOCK TABLE consent_receipt IN SHARE MODE")
                    _, rows = await locked.execute_query(
                        "SELECT coalesce(max(id), 0) FROM consent_receipt")
                return int(rows[0][0])
            await asyncio.sleep(0.01)
        return top

    async def claim_signer(self, conn: BaseDBAsyncClient) -> bool:
        # A transaction-level advisory lock: let go at commit or rollback, and by a backend
        # that dies, so a crashed signer never holds the others off.
        rows = await conn.execute_query_dict(
            "SELECT pg_try_advisory_xact_lock($1) AS claimed", [_SIGNER_LOCK]
        )
        return bool(rows[0]["claimed"])

    async def sites_between(self, conn: BaseDBAsyncClient, after: int, upto: int) -> list[int]:
        _, rows = await conn.execute_query(_SITES_BETWEEN, [after, upto])
        return [r[0] for r in rows]

    async def fold_tally(self, conn: BaseDBAsyncClient, site_id: int) -> None:
        # One statement: it sums exactly the rows it deleted, so a statement appending rows
        # meanwhile, or another fold, is never counted twice nor lost.
        await conn.execute_query(_FOLD_TALLY, [site_id])

    async def append_stored(
        self, conn: BaseDBAsyncClient, after: int, upto: int, sizes: Mapping[int, int]
    ) -> list[AppendedLeaf]:
        # Straight from asyncpg: the ORM's model per row cost more than the rest of the run.
        _, rows = await conn.execute_query(
            _APPEND_STORED, [after, upto, list(sizes), list(sizes.values())])
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def append_nodes(self, conn: BaseDBAsyncClient, rows: Sequence[NodeRow]) -> None:
        if rows:
            await conn.execute_query(_APPEND_NODES, [list(col) for col in zip(*rows, strict=True)])


POSTGRES = Postgres()

_SITES_BETWEEN = SITES_BETWEEN.format(after="$1", upto="$2")
_TALLY_GROUP = "site_id, purpose, review_status, seen_before, missing"
_FOLD_TALLY = f"""
WITH gone AS (DELETE FROM inventory_tally WHERE site_id = $1 RETURNING {_TALLY_GROUP}, n)
INSERT INTO inventory_tally ({_TALLY_GROUP}, n)
SELECT {_TALLY_GROUP}, sum(n) FROM gone GROUP BY {_TALLY_GROUP} HAVING sum(n) <> 0
"""
_APPEND_STORED = APPEND_STORED.format(
    after="$1", upto="$2", base="SELECT * FROM unnest($3::int[], $4::bigint[])",
    leaf=r"encode(sha256('\x00'::bytea || decode(p.record_hash, 'hex')), 'hex')",
    returned="decode(leaf_hash, 'hex')",
)
_APPEND_NODES = (
    "INSERT INTO tree_node (site_id, level, node_index, hash)"
    " SELECT * FROM unnest($1::int[], $2::smallint[], $3::bigint[], $4::text[])"
)

_SETTLE_WAIT = 10.0  # seconds a checkpoint run waits for the transactions in flight

# The advisory lock key of the checkpoint signer (any bigint no other lock of ours uses).
_SIGNER_LOCK = 0x3A5C_17E2_9B40_6D11


# ------------------------------------------------------------------------- the receipt store

# Longer than any batch takes; a statement past it is on a connection that went silent (a
# failover that dropped packets instead of closing): the lane must not wait on it for ever.
_STATEMENT_TIMEOUT = 10.0

# Each lookup by itself (LIMIT keeps the planner from turning it into a join), so that the
# unique index and the (site_id, consent_id, id) index answer it whatever the planner knows.
# "receipt_id = ANY($1) OR consent_id = ANY($2)" scanned the whole table while it had no
# statistics yet (a fresh install, or after a truncate), and the cached plan kept doing so:
# 37 ms on 100,000 rows, against 0.6 ms now.
_KNOWN_FIELDS = ", ".join(("id", *KnownReceipt._fields))
_KNOWN = (
    f"SELECT {', '.join(KnownReceipt._fields)} FROM ("
    f" SELECT c.* FROM unnest($1::uuid[]) AS r(receipt_id) JOIN LATERAL (SELECT {_KNOWN_FIELDS}"
    " FROM consent_receipt WHERE receipt_id = r.receipt_id LIMIT 1) c ON true"
    " UNION SELECT c.* FROM unnest($2::int[], $3::uuid[]) AS v(site_id, consent_id)"
    f" JOIN LATERAL (SELECT {_KNOWN_FIELDS} FROM consent_receipt"
    " WHERE site_id = v.site_id AND consent_id = v.consent_id ORDER BY id DESC LIMIT 1) c ON true"
    ") known ORDER BY id"
)


@functools.cache
def insert_if_current_statement(table: ReceiptTable) -> str:
    """The writer's batch statement, built once per list of columns."""
    names = ", ".join(table.names)
    # The batch travels as one JSON array ($1), written by orjson straight from the
    # dataclasses: encoding seventeen typed arrays cost asyncpg more than the rest of the
    # insert. ``WITH ORDINALITY … ORDER BY``: serial ids follow the batch's order, which the
    # chain relies on.
    insert = (
        f"INSERT INTO consent_receipt ({names}) SELECT {names}"
        " FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS ("
        + ", ".join(f"{name} {pg_type}" for name, pg_type in table.columns)
        + f")) WITH ORDINALITY AS batch({names}, n)"
    )
    # The same insert, made only if each chain's last receipt is the expected one ($2-$4):
    # a compare-and-set in one statement. The index on (site_id, consent_id, id) finds each
    # chain's last receipt in one step, whatever the plan. A receipt id already stored is left
    # to the unique index: checking it here too cost more than the insert, as the cached
    # generic plan for ``receipt_id = ANY($n)``, made while the table was small, scanned the
    # whole table.
    # The receipts' counts ($5, ``counters.tally``) are added in the same statement, on the
    # same condition (``clash`` is one result for both), so they commit with the receipts or
    # not at all.
    return (
        "WITH expected(site_id, consent_id, last_id) AS"
        " (SELECT * FROM unnest($2::int[], $3::uuid[], $4::uuid[])),"
        " clash AS (SELECT 1 FROM expected e LEFT JOIN LATERAL (SELECT receipt_id"
        " FROM consent_receipt c WHERE c.site_id = e.site_id AND c.consent_id = e.consent_id"
        " ORDER BY c.id DESC LIMIT 1) r ON true WHERE r.receipt_id IS DISTINCT FROM e.last_id),"
        " counted AS (" + add_counts_statement("$5", when="NOT EXISTS (SELECT 1 FROM clash)")
        + ") " + insert + " WHERE NOT EXISTS (SELECT 1 FROM clash) ORDER BY n"
    )


# What a value of the batch makes the database refuse: class 22 (a value it cannot store: a
# NUL in text or JSON, too long for its column), class 23 (a constraint; unique ones are a
# race, caught before) and an exception a trigger raises. Anything else is the database's.
_REFUSALS = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError, asyncpg.RaiseError)


def _plain(value: Any) -> Any:
    # asyncpg's own UUID type is not uuid.UUID (orjson, for one, cannot write it).
    return UUID(int=value.int) if isinstance(value, UUID) else value


class PostgresStore:
    """Each call is one prepared statement on a connection the lane keeps for its life (no
    BEGIN/COMMIT round trips, no pool reset per batch); a new one when it breaks."""

    def __init__(self, client: BaseDBAsyncClient, table: ReceiptTable) -> None:
        self._client = client
        self._table = table
        self._insert_if_current = insert_if_current_statement(table)
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

    async def known(self, receipt_ids: list[UUID], chains: list[ChainKey]) -> list[KnownReceipt]:
        rows = await self._call(
            _KNOWN, receipt_ids, [s for s, _ in chains], [c for _, c in chains], fetch=True
        )
        return [KnownReceipt(**{name: _plain(value) for name, value in r.items()}) for r in rows]

    async def insert_if_current(
        self, rows: Sequence[Any], receipt_ids: list[UUID], last: dict[ChainKey, UUID | None]
    ) -> bool:
        try:
            status = await self._call(
                self._insert_if_current, orjson.dumps(rows).decode(), [s for s, _ in last],
                [c for _, c in last], list(last.values()), counts_json(self._table.tally(rows)),
            )
        except asyncpg.UniqueViolationError:
            # A receipt id sent before, or a chain another writer has just extended (the
            # unique indexes of 0005, per site since 0017): nothing was written.
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
