"""SQLite (aiosqlite): a file of this process, one connection and one writer at a time."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from ..models import ConsentReceipt
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
    add_counts,
    on_conflict_counts,
)

__all__ = ["SQLITE", "Sqlite"]


def _upsert_counts(n: int, replace: bool) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * n)
    return (
        f"INSERT INTO {COUNTS_TABLE} ({', '.join(COUNTS_COLUMNS)}) VALUES {values}"
        + on_conflict_counts(replace)
    )


# Each receipt of a site and day range once as itself (purpose '') and once per purpose it
# decided on. JSON is text here: json_each walks the choices.
_RAW_COUNTS = """
SELECT site_id, date(recorded_at) AS day, method, '' AS purpose, count(*) AS receipts,
       0 AS granted
FROM consent_receipt
WHERE site_id = ? AND date(recorded_at) BETWEEN ? AND ? AND {counted}
GROUP BY 1, 2, 3
UNION ALL
SELECT r.site_id, date(r.recorded_at), r.method, j.key, count(*), sum(j.type = 'true')
FROM consent_receipt r, json_each(r.choices) j
WHERE r.site_id = ? AND date(r.recorded_at) BETWEEN ? AND ? AND {counted}
  AND j.type IN ('true', 'false')
GROUP BY 1, 2, 3, 4
"""


class Sqlite:
    name = "sqlite"
    migrates_on_open = True
    concurrent_writers = False

    # WAL lets readers work while the receipt writer commits; FULL makes each commit durable.
    connection_options: Mapping[str, str] = {
        "journal_mode": "WAL", "synchronous": "FULL", "busy_timeout": "5000"
    }
    # Transactions that take the write lock when they begin: the scan worker's process writes
    # the same file (``_sqlite_client``).
    engine: str | None = "cmp_server.dialects._sqlite_client"
    # The scan worker's process commits without waiting for the disk (WAL: still safe from
    # corruption; a power cut may lose its last commits, a scan that is run again), so that
    # it holds the file's write lock, which the server's receipt writer waits for, for the
    # write alone. The server's next receipt commit makes them durable too.
    worker_connection_options: Mapping[str, str] = {"synchronous": "NORMAL"}

    def prepare(self, url: str) -> None:
        """The file's folder: SQLite creates the file, not the folders above it."""
        parts = urlsplit(url)
        path = (parts.netloc + parts.path) if parts.netloc else parts.path
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)

    def placeholder(self, n: int) -> str:
        return "?"

    def decision(self, bind: Callable[[Any], str], purpose: str, granted: bool) -> str:
        # JSON is text here; json_extract gives 1 for true, 0 for false. The key is checked
        # (``_PURPOSE`` in the consent log) and bound, not spliced.
        path = bind('$."' + purpose + '"')
        return f"json_extract(choices, {path}) = {bind(int(granted))}"

    def upsert_counts(self, counts: Sequence[CountRow], replace: bool) -> tuple[str, list[Any]]:
        values = [v.isoformat() if isinstance(v, date) else v for c in counts for v in c]
        return _upsert_counts(len(counts), replace), values

    def raw_counts(
        self, site_id: int, start: date, end: date, counted: str
    ) -> tuple[str, list[Any]]:
        bounds = [site_id, start.isoformat(), end.isoformat()]
        return _RAW_COUNTS.format(counted=counted), bounds * 2

    async def lock_counters(self, conn: BaseDBAsyncClient) -> None:
        # Nothing to take: the transaction holds this process's one connection (Tortoise's
        # lock on it), so the writer's inserts wait until it ends.
        pass

    def receipt_store(self, table: ReceiptTable) -> ReceiptStore:
        return OrmStore(self, table)

    async def settled_top(self) -> int:
        # One writer at a time: an insert has committed or not started.
        rows = await connections.get("default").execute_query_dict(
            "SELECT max(id) AS top FROM consent_receipt")
        return int(rows[0]["top"] or 0)

    async def claim_signer(self, conn: BaseDBAsyncClient) -> bool:
        # The transaction holds this process's one connection; another process on the file
        # waits for the write lock, and the unique positions and sizes refuse a second tree.
        return True

    async def sites_between(self, conn: BaseDBAsyncClient, after: int, upto: int) -> list[int]:
        rows = await conn.execute_query_dict(_SITES_BETWEEN, [after, upto])
        return [int(r["site_id"]) for r in rows]

    async def fold_tally(self, conn: BaseDBAsyncClient, site_id: int) -> None:
        pass  # one row per group already, kept in place by the triggers (one writer)

    async def append_stored(
        self, conn: BaseDBAsyncClient, after: int, upto: int, sizes: Mapping[int, int]
    ) -> list[AppendedLeaf]:
        # SQLite has no SHA-256 of its own: the leaf hash is a function of this connection.
        # Called in the statement, it spares the run a row object and a write per receipt.
        raw = conn._connection  # the aiosqlite connection under Tortoise's  # noqa: SLF001
        await raw.create_function("cmp_leaf_hash", 1, _leaf_hash, deterministic=True)
        rows = await conn.execute_query_dict(
            _APPEND_STORED, [json.dumps(list(sizes.items())), after, upto])
        return [(int(r["site_id"]), int(r["position"]), int(r["receipt_pk"]),
                 bytes.fromhex(r["leaf_hash"])) for r in rows]

    async def append_nodes(self, conn: BaseDBAsyncClient, rows: Sequence[NodeRow]) -> None:
        if rows:
            await conn.execute_many(_APPEND_NODES, [list(row) for row in rows])


SQLITE = Sqlite()

_SITES_BETWEEN = SITES_BETWEEN.format(after="?", upto="?")
_APPEND_STORED = APPEND_STORED.format(
    base="SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)",
    after="?", upto="?",
    leaf="cmp_leaf_hash(p.record_hash)", returned="leaf_hash")
_APPEND_NODES = "INSERT INTO tree_node (site_id, level, node_index, hash) VALUES (?, ?, ?, ?)"


def _leaf_hash(record_hash: str) -> str:
    return hashlib.sha256(b"\x00" + bytes.fromhex(record_hash)).hexdigest()


class OrmStore:
    """One connection in the process and one lane, so nothing writes between the check and
    the insert: the ORM is enough."""

    def __init__(self, dialect: Sqlite, table: ReceiptTable) -> None:
        self._dialect = dialect
        self._table = table

    async def known(self, receipt_ids: list[UUID], chains: list[ChainKey]) -> list[KnownReceipt]:
        # By consent id alone, then by chain here: a filter per (site, consent id) pair would
        # nest one OR per visitor of the batch, past SQLite's expression depth.
        rows = await ConsentReceipt.filter(
            Q(receipt_id__in=receipt_ids) | Q(consent_id__in=list({c for _, c in chains}))
        ).order_by("id").values(*KnownReceipt._fields)
        ids, wanted = set(receipt_ids), set(chains)
        return [
            KnownReceipt(**row) for row in rows
            if row["receipt_id"] in ids or (row["site_id"], row["consent_id"]) in wanted
        ]

    async def _insert(self, rows: Sequence[Any]) -> None:
        # One multi-row INSERT and the counters' upsert, in one transaction.
        names = self._table.names
        async with in_transaction() as conn:
            await ConsentReceipt.bulk_create(
                [ConsentReceipt(**{c: getattr(r, c) for c in names}) for r in rows],
                using_db=conn,
            )
            await add_counts(self._dialect, conn, self._table.tally(rows), replace=False)

    async def _current(
        self, receipt_ids: list[UUID], last: dict[ChainKey, UUID | None]
    ) -> bool:
        stored = await self.known(receipt_ids, list(last))
        ids = set(receipt_ids)
        latest = {(k.site_id, k.consent_id): k.receipt_id for k in stored}
        return not any(k.receipt_id in ids for k in stored) and all(
            latest.get(c) == expected for c, expected in last.items()
        )

    async def insert_if_current(
        self, rows: Sequence[Any], receipt_ids: list[UUID], last: dict[ChainKey, UUID | None]
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
