"""Group commit for consent receipts.

Requests that arrive while a transaction is committing wait in a queue; the next transaction
takes all of them (up to ``batch_max``). Each request is answered only after the transaction
holding its receipt has committed, and a failed transaction fails only its own requests, with a
retryable error. One read and one insert per batch instead of one transaction per request is what
lets this beat one-insert-per-request throughput without giving up durability. Duplicates
across processes are caught by the unique receipt id: the batch fails, its senders retry, and
the retry finds the stored receipt.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from .._utils import utcnow
from ..errors import CmpError, ReceiptConflict, Unavailable, WriteFailed
from .receipt_store import KnownReceipt, NewReceipt, ReceiptStore, open_store
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


class ReceiptWriter:
    """``lanes`` writers run side by side, each with its own queue. A visitor's receipts
    always go through the same lane (by consent id), so each visitor's chain stays in order,
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
        await self._queues[lane].put((draft, future))
        # Shielded: a client that disconnects must not cancel a write other requests share.
        return await asyncio.shield(future)

    async def _run(self, queue: asyncio.Queue[_Item]) -> None:
        store = open_store()
        try:
            while True:
                first = await queue.get()
                batch = [first]
                while len(batch) < self._batch_max and not queue.empty():
                    batch.append(queue.get_nowait())
                try:
                    await self._commit(store, batch)
                finally:
                    for _ in batch:
                        queue.task_done()
        finally:
            await store.close()

    async def _commit(self, store: ReceiptStore, batch: list[_Item]) -> None:
        try:
            # One read, then one insert of the whole batch, atomic.
            outcomes = await _insert(store, batch)
        except Exception:  # the insert rolled back as a whole: nothing of it was written
            log.exception("receipt batch of %d failed", len(batch))
            outcomes = [WriteFailed("the receipt could not be stored; send it again")] * len(batch)
        else:
            self.batches += 1
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, CmpError):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)


async def _insert(store: ReceiptStore, batch: list[_Item]) -> list[StoredReceipt | CmpError]:
    drafts = [draft for draft, _ in batch]
    ids = list({d.receipt.receipt_id for d in drafts})
    consent_ids = list({d.receipt.consent_id for d in drafts})
    # One read for both: receipts sent before with these ids (idempotency), and each
    # visitor's receipts so far, the last of which the new one links to and chains.
    known_rows = await store.known(ids, consent_ids)
    existing: dict[UUID, KnownReceipt] = {}
    last: dict[UUID, tuple[UUID, str]] = {}
    for stored in known_rows:
        existing[stored.receipt_id] = stored
        last[stored.consent_id] = (stored.receipt_id, stored.record_hash)

    outcomes: list[StoredReceipt | CmpError] = []
    new_rows: list[NewReceipt] = []
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
        previous_id, previous_hash = last.get(r.consent_id, (None, ""))
        row = NewReceipt(
            receipt_id=r.receipt_id,
            consent_id=r.consent_id,
            site_id=draft.site_id,
            config_version=r.config_version,
            texts_hash=draft.texts_hash,
            language=r.language,
            choices=dict(r.choices),
            method=r.method,
            layer=r.layer,
            page_url=r.page_url,
            recorded_at=now,
            expires_at=now + draft.lifetime,
            user_agent=draft.user_agent,
            ip_truncated=draft.ip_truncated,
            previous_receipt_id=previous_id,
            content_hash=draft.content_hash,
        )
        row.record_hash = record_hash(row, draft.site_key, previous_hash)
        last[r.consent_id] = (r.receipt_id, row.record_hash)
        existing[r.receipt_id] = row.known()  # the same id again in this batch
        new_rows.append(row)
        outcomes.append(StoredReceipt.of(row))
    if new_rows:
        await store.insert(new_rows)
    return outcomes
