"""Where the receipt writer reads and writes its batches: the database's own store
(``dialects/``), opened once when a writer lane starts.

The writer needs an insert that is checked (nothing of the batch stored yet, each visitor's
last receipt as expected) and a read for when the check fails; the insert adds the batch's
consent counters (``counters.tally``) in the same statement or transaction. How a store call
ends (done, ``RowsRefused``, or trouble with the database) is ``ReceiptStore``'s to say. A
chain is a visitor's receipts on one site (``ChainKey``: site id, consent id). On every
database, unique indexes (migrations 0005 and 0017) refuse a second chain for a visitor on a
site, whatever wrote it.

``NewReceipt`` is the one list of a receipt's stored columns: the insert, the row read back, the
fields copied from what the client sent and the fields the record hash covers all come from it
(a test holds the model and the migrations to it).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any
from uuid import UUID

from .. import db
from ..dialects import ChainKey, KnownReceipt, ReceiptStore, ReceiptTable, RowsRefused
from . import counters

__all__ = [
    "COLUMNS",
    "HASHED",
    "ChainKey",
    "SENT",
    "KnownReceipt",
    "NewReceipt",
    "ReceiptStore",
    "RowsRefused",
    "open_store",
]


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


# What a store needs of the rows: the columns in order, with their types, and their counts.
_TABLE = ReceiptTable(tuple((f.name, f.metadata["pg_type"]) for f in _FIELDS), counters.tally)


def open_store() -> ReceiptStore:
    """A store for one writer lane, the database's own (``dialects/``)."""
    return db.dialect().receipt_store(_TABLE)
