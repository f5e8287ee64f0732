"""Export receipts for a date range and a filter as CSV or JSON Lines, streamed in
keyset-paginated pages; and one visitor's history as a JSON document for an access request.

A receipt stored before chains were per site (migration 0017) may link to the visitor's receipt
on another site; its repair (``verify.Repair``) names the receipt before it on its own site and
the hash its own was chained over. Exports carry it, as the evidence bundle does, so that an
exported chain verifies as ``verify-receipts`` verifies it: in JSON, ``chain_repair``
(``{"previous_receipt_id", "linked_hash"}``) on the receipts that have one; in CSV, two columns
(``REPAIR_FIELDS``), empty for the others.

JSON is written with ``<``, ``>`` and ``&`` escaped (``configs.script_safe_json``): the same
values to any JSON reader, and inert should a browser ever show a file inline.

Memory stays flat whatever the number of rows: one page (``page_size`` rows) at a time, read in
(recorded_at, id) order through the (site_id, recorded_at) index, so each page is a short range
scan from where the last one ended (``consent_log.matching_ids``). Every export staff start
(``begin_export``, ``visitor_export``) is written to the audit log before the first byte goes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

import orjson

from .._utils import rfc3339, utcnow
from ..models import Site
from . import audit
from .configs import script_safe_json
from .consent_log import Cursor, ReceiptFilter, page_rows, visitor_history
from .receipt_store import COLUMNS
from .verify import Repair, repairs

if TYPE_CHECKING:
    from .staff import Actor

__all__ = [
    "CSV_FIELDS",
    "EXPORT_FIELDS",
    "REPAIR_FIELDS",
    "ExportFormat",
    "begin_export",
    "csv_safe",
    "export_receipts",
    "visitor_export",
]

ExportFormat = Literal["csv", "jsonl"]

# Every stored column of a receipt (receipt_store.NewReceipt, the one list), in its order: a
# column added there is exported too, so an export always holds what the record hash covers.
# The site is named by its key (as the hash names it); the idempotency hash is the server's.
EXPORT_FIELDS: tuple[str, ...] = tuple(
    "site" if column == "site_id" else column for column in COLUMNS if column != "content_hash"
)

# A repaired receipt's repair (``chain_repair`` in JSON): empty for the others.
REPAIR_FIELDS = ("chain_repair_previous_receipt_id", "chain_repair_linked_hash")
CSV_FIELDS = EXPORT_FIELDS + REPAIR_FIELDS

_COLUMNS = tuple(f for f in EXPORT_FIELDS if f != "site")
# Excel reads a CSV without it as the machine's ANSI code page ("KursgÃ¥rden").
BOM = "\ufeff".encode()


async def _pages(
    site: Site, where: ReceiptFilter, page_size: int
) -> AsyncIterator[tuple[list[dict[str, Any]], dict[UUID, Repair]]]:
    """Each page of rows, with the repairs of those that have one."""
    after: Cursor | None = None
    while True:
        rows = await page_rows(site, where, _COLUMNS, after=after, limit=page_size)
        if not rows:
            return
        after = Cursor(rows[-1]["recorded_at"], rows[-1]["id"])
        yield rows, await repairs(row["receipt_id"] for row in rows)
        if len(rows) < page_size:
            return


def _repair_json(repair: Repair) -> dict[str, str | None]:
    before = repair.previous_receipt_id
    return {"previous_receipt_id": str(before) if before else None,
            "linked_hash": repair.linked_hash}


def _record(site: Site, row: dict[str, Any], repair: Repair | None = None) -> dict[str, Any]:
    record = {field: row.get(field) for field in EXPORT_FIELDS}
    record["site"] = site.key
    for key in ("receipt_id", "consent_id", "previous_receipt_id"):
        if record[key] is not None:
            record[key] = str(record[key])
    for key in ("recorded_at", "expires_at"):
        record[key] = rfc3339(row[key])
    if repair is not None:
        record["chain_repair"] = _repair_json(repair)
    return record


def _csv_row(record: dict[str, Any]) -> list[Any]:
    repair = record.get("chain_repair") or {}
    record = {**record, "choices": orjson.dumps(record["choices"],
                                                option=orjson.OPT_SORT_KEYS).decode(),
              "chain_repair_previous_receipt_id": repair.get("previous_receipt_id"),
              "chain_repair_linked_hash": repair.get("linked_hash")}
    return [csv_safe(record[field]) for field in CSV_FIELDS]


async def export_receipts(
    site: Site,
    fmt: ExportFormat,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    where: ReceiptFilter | None = None,
    page_size: int = 1000,
    bom: bool = False,
) -> AsyncIterator[bytes]:
    """Yield the export in chunks of bytes, oldest first; CSV starts with a header row (and,
    with ``bom``, the byte order mark spreadsheets need to read UTF-8). ``start`` and ``end``
    narrow ``where``'s range."""
    where = where or ReceiptFilter()
    if start is not None or end is not None:
        where = replace(where, start=start or where.start, end=end or where.end)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_FIELDS)
        yield (BOM if bom else b"") + buffer.getvalue().encode()
    async for page, fixed in _pages(site, where, page_size):
        records = [_record(site, row, fixed.get(row["receipt_id"])) for row in page]
        if fmt == "jsonl":
            yield script_safe_json(b"".join(orjson.dumps(r) + b"\n" for r in records))
            continue
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerows(_csv_row(record) for record in records)
        yield buffer.getvalue().encode()


def csv_safe(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to a spreadsheet: page URLs and user agents come
    # from visitors, so neutralise them (OWASP "CSV injection").
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


async def begin_export(
    site: Site,
    fmt: ExportFormat,
    where: ReceiptFilter,
    *,
    by: Actor | None,
    rows: int | None = None,
    bom: bool = False,
) -> AsyncIterator[bytes]:
    """Write the export to the audit log (who, which site, format, filter and, if the caller
    counted them, how many rows), then return the stream. The entry is written before the
    first byte: an export that breaks off is still on record."""
    after: dict[str, Any] = {"format": fmt, "filter": where.describe()}
    if rows is not None:
        after["rows"] = rows
    await audit.record(by, "receipts.export", "consent_receipt", site=site, after=after)
    return export_receipts(site, fmt, where=where, bom=bom)


async def visitor_export(site: Site, consent_id: str | UUID, *, by: Actor | None) -> bytes:
    """One visitor's receipts as a JSON document to send them (an access request): every stored
    field, whether each receipt verifies, and the texts of each version and language they were
    shown. Written to the audit log."""
    history = await visitor_history(site, consent_id)
    fixed = await repairs(e.receipt.receipt_id for e in history.entries)
    document = {
        "site": site.key,
        "consent_id": str(history.consent_id),
        "exported_at": rfc3339(utcnow()),
        "receipts": [
            {
                **_record(site, {c: getattr(e.receipt, c) for c in _COLUMNS},
                          fixed.get(e.receipt.receipt_id)),
                "verification": e.check,
                "texts_hash_matches": e.texts_match,
            }
            for e in history.entries
        ],
        "texts_shown": [
            {
                "config_version": shown.version,
                "language": shown.language,
                "published_at": rfc3339(shown.published_at),
                "texts_hash": shown.texts_hash,
                "texts": shown.texts,
            }
            for shown in history.texts.values()
        ],
    }
    await audit.record(
        by, "visitor.export", "consent", history.consent_id, site=site,
        after={"receipts": len(history.entries)},
    )
    return script_safe_json(orjson.dumps(document, option=orjson.OPT_INDENT_2))
