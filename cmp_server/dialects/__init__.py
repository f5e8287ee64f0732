"""What SQLite and PostgreSQL do not do alike, in one place.

Each database is a ``Dialect`` (``sqlite.py``, ``postgres.py``). One is chosen from the URL
where the database is opened (``db.backend``, as uvicorn's ``loops/auto.py`` picks its event
loop) and the services get it from ``db.dialect()``: no service asks which database it runs
on (``make lint`` holds them to it). What differs:

- how the database starts: migrated on open or by ``cmp-server migrate``, one writer or
  several, the connection's default options, a file's folder;
- placeholders (``?`` / ``$1``);
- a purpose's decision in a receipt's JSON choices (the consent log's filter);
- the consent counters: their upsert, the count from the raw receipts they are checked and
  recounted against (JSON iteration), and the lock a recount holds the writers off with;
- the receipt store the writer's lanes insert their batches through (its batch statement);
- checkpoints: waiting out the receipt inserts in flight (without holding the writers
  off), one signer at a time, and the
  leaf hash computed in the database (``APPEND_STORED``).

Row locks taken through the ORM (``select_for_update``, the scan queue's ``skip_locked``) are
Tortoise's own per database: ``FOR UPDATE`` on PostgreSQL, nothing on SQLite, which has one
writer at a time. They stay where they are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient

from ..models import ConsentDaily

__all__ = [
    "COUNTS_COLUMNS",
    "MAX_COUNTS",
    "ChainKey",
    "CountRow",
    "Dialect",
    "KnownReceipt",
    "AppendedLeaf",
    "NodeRow",
    "SITES_BETWEEN",
    "ReceiptStore",
    "ReceiptTable",
    "RowsRefused",
    "add_counts",
]

# A receipt chain: the site's id and the visitor's consent id (one chain per site and visitor).
ChainKey = tuple[int, UUID]

# A consent counter row (``counters.Count``): site_id, day, method, purpose, receipts, granted.
CountRow = tuple[int, date, str, str, int, int]


# A leaf the checkpoint run appended: site_id, position, receipt_pk, leaf hash (32 bytes).
AppendedLeaf = tuple[int, int, int, bytes]
# A stored subtree (``models.TreeNode``): site_id, level, node_index, hash (hex).
NodeRow = tuple[int, int, int, str]

# The leaves of the receipts with ids past {after} and up to {upto}, each at the next position
# of its site's tree (from the size {base} gives the site: the run's frontier), its hash
# SHA-256(0x00 || record hash) computed by {leaf}: the database reads the receipts and writes
# the leaves, and only the hashes come back, for the run's frontiers. A page is a range of
# ids, not ORDER BY … LIMIT: a plan made without statistics (a table just loaded) then read
# every later receipt for each page; and the page is read first (MATERIALIZED), by its ids,
# whatever the planner guesses of the sites. RETURNING gives no order: the caller sorts.
APPEND_STORED = """
WITH base(site_id, size) AS ({base}),
page AS MATERIALIZED (
    SELECT id, site_id, receipt_id, recorded_at, record_hash FROM consent_receipt
    WHERE id > {after} AND id <= {upto}
)
INSERT INTO receipt_leaf (site_id, position, receipt_pk, receipt_id, recorded_at, leaf_hash)
SELECT p.site_id, b.size + row_number() OVER (PARTITION BY p.site_id ORDER BY p.id) - 1,
       p.id, p.receipt_id, p.recorded_at, {leaf}
FROM page p JOIN base b ON b.site_id = p.site_id
RETURNING site_id, position, receipt_pk, {returned}
"""
# The sites with receipts in a page (their trees are opened before its leaves are appended).
SITES_BETWEEN = "SELECT DISTINCT site_id FROM consent_receipt WHERE id > {after} AND id <= {upto}"


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


@dataclass(frozen=True)
class ReceiptTable:
    """What a receipt store needs to know of the rows it is given (``NewReceipt``s, from
    ``services/receipt_store.py``, which owns the list of columns)."""

    # Every stored column but the serial id, in the order of the insert, with its PostgreSQL
    # type (the batch statement names it).
    columns: tuple[tuple[str, str], ...]
    # The counts of the rows about to be inserted (``counters.tally``), added with them.
    tally: Callable[[Sequence[Any]], Sequence[CountRow]]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


class ReceiptStore(Protocol):
    """Where the receipt writer reads and writes its batches (``services/writer.py``).

    A call ends in one of three ways: done; ``RowsRefused`` (the database refused a value of
    the batch, the statement failed as a whole and wrote nothing); or any other exception,
    which is trouble with the database itself (a restart, a killed backend, a lost
    connection, a timeout): an insert's outcome is then unknown, and the store has let go of
    its connection, so the next call takes a new one."""

    async def known(self, receipt_ids: list[UUID], chains: list[ChainKey]) -> list[KnownReceipt]:
        """The stored receipts with one of ``receipt_ids``, and each chain's last stored
        receipt (or more of its receipts), in the order they were stored."""

    async def insert_if_current(
        self, rows: Sequence[Any], receipt_ids: list[UUID], last: dict[ChainKey, UUID | None]
    ) -> bool:
        """Insert all of ``rows`` and their counts, in order, if none of ``receipt_ids`` is
        stored and each chain's last stored receipt is the one in ``last`` (None: no
        receipts); False, having written nothing, if not. ``RowsRefused`` if the database
        refused a value."""

    async def close(self) -> None: ...


class Dialect(Protocol):
    """One database's way of doing what the program needs done. The instances are
    ``sqlite.SQLITE`` and ``postgres.POSTGRES``."""

    name: str
    # SQLite is a file of this process: it is created and migrated on open. PostgreSQL is
    # shared by many processes: `cmp-server migrate` brings it up, and a schema behind stops.
    migrates_on_open: bool
    # Several processes and several group-commit lanes may write at once (SQLite: one writer).
    concurrent_writers: bool

    # Added to the URL's query where it does not set them (``db.tortoise_config``).
    connection_options: Mapping[str, str]
    # The Tortoise engine (a module's path) used instead of the one the URL's scheme names.
    engine: str | None
    # The scan worker's process adds these where the URL does not set them (``db.worker_url``):
    # what it writes (scans, jobs, deliveries) may be written again, receipts never.
    worker_connection_options: Mapping[str, str]

    def prepare(self, url: str) -> None:
        """What must exist before the database at ``url`` is opened."""

    def placeholder(self, n: int) -> str:
        """How the ``n``-th (from 1) parameter of a statement is written."""

    def decision(self, bind: Callable[[Any], str], purpose: str, granted: bool) -> str:
        """The condition that a receipt's ``choices`` hold ``granted`` for ``purpose`` (a
        checked purpose key); ``bind`` adds a parameter and returns its placeholder."""

    def upsert_counts(self, counts: Sequence[CountRow], replace: bool) -> tuple[str, list[Any]]:
        """The statement and parameters that add ``counts`` (at most ``MAX_COUNTS``) to the
        counters (``replace``: set them instead); ``add_counts`` runs them."""

    def raw_counts(
        self, site_id: int, start: date, end: date, counted: str
    ) -> tuple[str, list[Any]]:
        """The statement and parameters that count a site's receipts of ``start`` to ``end``
        (UTC days, both included) as the counters count them, where ``counted`` (a condition
        on the receipt) holds. Rows: site_id, day, method, purpose, receipts, granted."""

    async def lock_counters(self, conn: BaseDBAsyncClient) -> None:
        """Hold the receipt writers off the counters until ``conn``'s transaction ends."""

    def receipt_store(self, table: ReceiptTable) -> ReceiptStore:
        """A store for one writer lane (closed by the lane when it stops)."""

    async def settled_top(self) -> int:
        """The greatest receipt id such that every receipt with an id up to it has been
        committed, or never will be: those a checkpoint run may append (a receipt committed
        later under a smaller id would otherwise be passed over)."""

    async def claim_signer(self, conn: BaseDBAsyncClient) -> bool:
        """In ``conn``'s transaction: become the one process that appends leaves and signs
        checkpoints until it ends; False, at once, if another process is doing so."""

    async def sites_between(self, conn: BaseDBAsyncClient, after: int, upto: int) -> list[int]:
        """The sites with receipts of ids past ``after`` and up to ``upto``."""

    async def fold_tally(self, conn: BaseDBAsyncClient, site_id: int) -> None:
        """Fold the site's ``inventory_tally`` rows into one per group (migration 0024):
        PostgreSQL's triggers append a row per statement; SQLite's keep one per group."""

    async def append_stored(
        self, conn: BaseDBAsyncClient, after: int, upto: int, sizes: Mapping[int, int]
    ) -> list[AppendedLeaf]:
        """In ``conn``'s transaction: append the receipts with ids past ``after`` and up to
        ``upto`` to their sites' trees, whose sizes are ``sizes`` (every site of those
        receipts, ``sites_between``): ``APPEND_STORED``. The leaves appended, in no order."""

    async def append_nodes(self, conn: BaseDBAsyncClient, rows: Sequence[NodeRow]) -> None:
        """Insert the subtrees, in ``conn``'s transaction."""


# The counters' upsert, the same on both but for how the rows come in.
COUNTS_TABLE = ConsentDaily._meta.db_table
COUNTS_COLUMNS = ("site_id", "day", "method", "purpose", "receipts", "granted")
COUNTS_KEY = "site_id, purpose, day, method"  # the unique index, in its order
_ADD = ", ".join(f"{c} = {COUNTS_TABLE}.{c} + EXCLUDED.{c}" for c in ("receipts", "granted"))
# A recount sets the counts, and writes a row only where they differ: recounting counters
# that are right writes nothing.
_REPLACE = (
    ", ".join(f"{c} = EXCLUDED.{c}" for c in ("receipts", "granted"))
    + f" WHERE {COUNTS_TABLE}.receipts <> EXCLUDED.receipts"
    + f" OR {COUNTS_TABLE}.granted <> EXCLUDED.granted"
)
MAX_COUNTS = 5000  # counter rows a statement: 6 parameters each, under SQLite's 32,766


def on_conflict_counts(replace: bool) -> str:
    """The end of the counters' upsert: add to what is stored, or (``replace``) set it."""
    return f" ON CONFLICT ({COUNTS_KEY}) DO UPDATE SET {_REPLACE if replace else _ADD}"


async def add_counts(
    dialect: Dialect, conn: BaseDBAsyncClient, counts: Sequence[CountRow], *, replace: bool
) -> None:
    """Add ``counts`` to the counters in the transaction ``conn`` is in (``replace``: set
    them), ``MAX_COUNTS`` rows a statement."""
    for i in range(0, len(counts), MAX_COUNTS):
        await conn.execute_query(*dialect.upsert_counts(counts[i:i + MAX_COUNTS], replace))
