"""Group commit for consent receipts.

Requests that arrive while a transaction is committing wait in a queue; the next transaction
takes all of them (up to ``batch_max``). Each request is answered only after the transaction
holding its receipt has committed, and a failed transaction fails only its own requests, with a
retryable error.

A visitor's receipts form one chain per site: a receipt links to the same visitor's last
receipt on the same site (two sites sharing a consent cookie, or anyone who knows a consent id,
must not be able to break another site's chain; migration 0017, which also repairs the chains
written before).

A batch is usually one round trip: the lane guesses each chain's last receipt (the one it
wrote last, or none) and the store inserts the batch only if no receipt id is stored yet and
every guess holds. When not (a receipt sent again, a visitor another process wrote for), the
lane reads what is stored, plans the batch again and inserts it with the same check. The
database decides between writers: the unique receipt id and the one-chain-per-site-and-visitor
indexes (migrations 0005 and 0017) refuse the second of two inserts that raced, and its lane
reads again. After three tries in a row the batch fails, retryable.

Receipts are stored exactly once, whatever happens to the database. When the database is in
trouble (a restart, a failover, a killed backend, a connection it closed), the store lets go of
its connection and the lane tries the batch again on a new one, twice, after a pause. Whether
the failed insert committed is then unknown, so each try again starts by reading what is
stored: a receipt that did go in is answered from its stored row, never written twice (the
unique receipt id would refuse it anyway). Only then does the batch fail, retryable, and the
next batch starts on a new connection: the lane recovers as soon as the database is back.

Each batch's consent counters (``counters``: receipts per site, day, method and purpose, what
the consent-rate chart reads) are added in the batch's own insert, so a receipt is counted
exactly when it is stored: once, whether sent again or written by another process.

One receipt never fails its neighbours. When the database refuses a value of a batch (a
constraint, a value it cannot store), nothing of it was written; the lane halves the batch until
the refused receipt is alone, writes the others, and refuses that one (``ReceiptRefused``, not
retryable). A retryable failure is left for trouble with the database itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from .._utils import utcnow
from ..errors import (
    ChainContention,
    CmpError,
    ReceiptConflict,
    ReceiptRefused,
    Unavailable,
    WriteFailed,
)
from .receipt_store import (
    SENT,
    ChainKey,
    KnownReceipt,
    NewReceipt,
    ReceiptStore,
    RowsRefused,
    open_store,
)
from .receipts import ReceiptDraft, record_hash

__all__ = ["ReceiptWriter", "StoredReceipt"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredReceipt:
    receipt_id: UUID
    consent_id: UUID
    recorded_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, row: KnownReceipt | NewReceipt) -> StoredReceipt:
        return cls(row.receipt_id, row.consent_id, row.recorded_at, row.expires_at)


_Item = tuple[ReceiptDraft, "asyncio.Future[StoredReceipt]"]


_ATTEMPTS = 3  # plans per batch before it fails; each after the first follows a read
_RECOVERIES = 2  # tries again after database trouble, each on a new connection
_RECOVERY_PAUSE = 0.2  # seconds before the first of them, doubled for the next


class ReceiptWriter:
    """``lanes`` writers run side by side, each with its own queue. A visitor's receipts
    always go through the same lane (by consent id), so each of its chains stays in order,
    while the lanes keep several database round trips in flight at once."""

    def __init__(self, batch_max: int = 512, lanes: int = 1) -> None:
        self._batch_max = batch_max
        self._queues: list[asyncio.Queue[_Item]] = [asyncio.Queue() for _ in range(lanes)]
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self.batches = 0  # for tests and metrics: how many transactions were committed

    async def start(self) -> None:
        self._closing = False
        self._tasks = [
            asyncio.create_task(self._run(queue), name=f"receipt-writer-{i}")
            for i, queue in enumerate(self._queues)
        ]

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        self._closing = True
        for queue in self._queues:
            await queue.join()
        for task in self._tasks:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []

    async def submit(self, draft: ReceiptDraft) -> StoredReceipt:
        if self._closing or not self._tasks:
            raise Unavailable("the server is shutting down; send the receipt again")
        future: asyncio.Future[StoredReceipt] = asyncio.get_running_loop().create_future()
        lane = draft.receipt.consent_id.int % len(self._queues)
        self._queues[lane].put_nowait((draft, future))
        # A request cancelled while it waits cancels only this future: the batch is written
        # all the same (the lane skips futures already done).
        return await future

    async def _run(self, queue: asyncio.Queue[_Item]) -> None:
        store = open_store()
        chains = _Chains()
        try:
            while True:
                first = await queue.get()
                batch = [first]
                while len(batch) < self._batch_max and not queue.empty():
                    batch.append(queue.get_nowait())
                try:
                    await self._commit(store, chains, batch)
                finally:
                    for _ in batch:
                        queue.task_done()
        finally:
            await store.close()

    async def _commit(self, store: ReceiptStore, chains: _Chains, batch: list[_Item]) -> None:
        outcomes = await self._write(store, chains, [draft for draft, _ in batch])
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, CmpError):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    async def _write(
        self, store: ReceiptStore, chains: _Chains, drafts: list[ReceiptDraft]
    ) -> list[StoredReceipt | CmpError]:
        pause = _RECOVERY_PAUSE
        for attempt in range(_RECOVERIES + 1):
            try:
                # After trouble the insert may have committed: read what is stored first.
                outcomes = await _insert(store, chains, drafts, read_first=attempt > 0)
            except RowsRefused as exc:
                if len(drafts) == 1:
                    log.warning("receipt %s refused by the database: %s",
                                drafts[0].receipt.receipt_id, exc)
                    return [ReceiptRefused("the database cannot store a value of this receipt,"
                                           " so it was not recorded")]
                # Nothing was written. Halve the batch until the refused receipt is alone.
                middle = len(drafts) // 2
                head = await self._write(store, chains, drafts[:middle])
                return [*head, *await self._write(store, chains, drafts[middle:])]
            except ChainContention:
                log.warning("receipt batch of %d gave way to other writers", len(drafts))
                break
            except Exception as exc:
                if attempt == _RECOVERIES:
                    log.exception("receipt batch of %d failed", len(drafts))
                    break
                log.warning("receipt batch of %d failed (%s: %s); trying again on a new"
                            " connection", len(drafts), type(exc).__name__, exc)
                await asyncio.sleep(pause)
                pause *= 2
            else:
                self.batches += 1
                return outcomes
        return [WriteFailed("the receipt could not be stored; send it again")] * len(drafts)


class _Chains:
    """Each chain's last receipt (id and hash) as this lane last wrote it: the guess the
    one-round-trip insert is checked against. Bounded; a chain it forgot is guessed to have
    no receipts yet, which the check corrects. Kept as ints and strings, which the garbage
    collector does not walk (UUID objects it would, on every full pass)."""

    def __init__(self, size: int = 50_000) -> None:
        self._size = size
        # Oldest first. An OrderedDict, not a dict: a dict's oldest entry is found by walking
        # past every slot deleted before it, which made each eviction cost more than the
        # receipt once the cache was full (56 us per receipt after 200,000).
        self._last: OrderedDict[tuple[int, int], tuple[int, str]] = OrderedDict()

    def get(self, chain: ChainKey) -> tuple[UUID, str] | None:
        known = self._last.get((chain[0], chain[1].int))
        return None if known is None else (UUID(int=known[0]), known[1])

    def remember(self, rows: list[NewReceipt]) -> None:
        last = self._last
        for row in rows:
            key = (row.site_id, row.consent_id.int)
            last[key] = (row.receipt_id.int, row.record_hash)
            last.move_to_end(key)  # written again: the newest are kept longest
        while len(last) > self._size:
            last.popitem(last=False)

    def __len__(self) -> int:
        return len(self._last)


async def _insert(
    store: ReceiptStore, chains: _Chains, drafts: list[ReceiptDraft], *, read_first: bool
) -> list[StoredReceipt | CmpError]:
    visitors = list({_chain(d): None for d in drafts})
    # The common case in one round trip: no receipt id was sent before, and each chain's
    # last receipt is the one this lane remembers (none for a new visitor). The store inserts
    # only if that holds (in the database, against any other writer); otherwise the batch is
    # planned again from what is stored, and checked again.
    if read_first:
        existing, last = await _stored(store, drafts, visitors)
    else:
        existing = {}
        last = {c: known for c in visitors if (known := chains.get(c)) is not None}
    for _ in range(_ATTEMPTS):
        outcomes, rows = _plan(drafts, existing, last)
        expected = {c: last[c][0] if c in last else None for c in visitors}
        if not rows or await store.insert_if_current(
            rows, [r.receipt_id for r in rows], expected
        ):
            chains.remember(rows)
            return outcomes
        existing, last = await _stored(store, drafts, visitors)
    raise ChainContention(f"the chain moved under {_ATTEMPTS} attempts in a row")


def _chain(draft: ReceiptDraft) -> ChainKey:
    return (draft.site_id, draft.receipt.consent_id)


async def _stored(
    store: ReceiptStore, drafts: list[ReceiptDraft], visitors: list[ChainKey]
) -> tuple[dict[UUID, KnownReceipt], dict[ChainKey, tuple[UUID, str]]]:
    """One read for both: receipts sent before with these ids (idempotency), and each
    chain's last receipt, which the next one links to and chains."""
    existing: dict[UUID, KnownReceipt] = {}
    last: dict[ChainKey, tuple[UUID, str]] = {}
    wanted = set(visitors)
    for stored in await store.known([d.receipt.receipt_id for d in drafts], visitors):
        existing[stored.receipt_id] = stored
        if (chain := (stored.site_id, stored.consent_id)) in wanted:
            last[chain] = (stored.receipt_id, stored.record_hash)
    return existing, last


def _plan(
    drafts: list[ReceiptDraft],
    existing: dict[UUID, KnownReceipt],
    last: dict[ChainKey, tuple[UUID, str]],
) -> tuple[list[StoredReceipt | CmpError], list[NewReceipt]]:
    """Each draft's outcome, and the rows to insert: a receipt id already stored (or earlier
    in the batch) is answered from there, or is a conflict if its content differs; a new one
    links to its visitor's last receipt on the same site and chains its hash."""
    existing = dict(existing)
    last = dict(last)
    outcomes: list[StoredReceipt | CmpError] = []
    rows: list[NewReceipt] = []
    now = utcnow()
    for draft in drafts:
        r = draft.receipt
        known = existing.get(r.receipt_id)
        if known is not None:
            if known.content_hash == draft.content_hash and known.site_id == draft.site_id:
                outcomes.append(StoredReceipt.of(known))
            else:
                conflict = f"receipt {r.receipt_id} exists with other content"
                outcomes.append(ReceiptConflict(conflict))
            continue
        chain = _chain(draft)
        previous_id, previous_hash = last.get(chain, (None, ""))
        row = NewReceipt(
            **{name: getattr(r, name) for name in SENT},  # as the client sent them
            site_id=draft.site_id,
            texts_hash=draft.texts_hash,
            recorded_at=now,
            expires_at=now + draft.lifetime,
            user_agent=draft.user_agent,
            ip_truncated=draft.ip_truncated,
            previous_receipt_id=previous_id,
            content_hash=draft.content_hash,
        )
        row.record_hash = record_hash(row, draft.site_key, previous_hash)
        last[chain] = (r.receipt_id, row.record_hash)
        existing[r.receipt_id] = row.known()  # the same id again in this batch
        rows.append(row)
        outcomes.append(StoredReceipt.of(row))
    return outcomes, rows
