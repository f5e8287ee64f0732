"""Export receipts for a date range as CSV or JSON Lines, streamed in keyset-paginated pages.

Memory stays flat whatever the number of rows: one page (``page_size`` rows) at a time.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Literal

import orjson

from .._utils import rfc3339
from ..models import ConsentReceipt, Site

__all__ = ["EXPORT_FIELDS", "ExportFormat", "export_receipts"]

ExportFormat = Literal["csv", "jsonl"]

EXPORT_FIELDS = (
    "receipt_id",
    "consent_id",
    "site",
    "config_version",
    "texts_hash",
    "language",
    "choices",
    "method",
    "layer",
    "page_url",
    "recorded_at",
    "expires_at",
    "user_agent",
    "ip_truncated",
    "previous_receipt_id",
    "record_hash",
)

_COLUMNS = tuple(f for f in EXPORT_FIELDS if f != "site")


async def _pages(
    site: Site, start: datetime | None, end: datetime | None, page_size: int
) -> AsyncIterator[list[dict[str, Any]]]:
    query = ConsentReceipt.filter(site_id=site.id)
    if start is not None:
        query = query.filter(recorded_at__gte=start)
    if end is not None:
        query = query.filter(recorded_at__lt=end)
    last_id = 0
    while True:
        rows = (
            await query.filter(id__gt=last_id)
            .order_by("id")
            .limit(page_size)
            .values("id", *_COLUMNS)
        )
        if not rows:
            return
        last_id = rows[-1]["id"]
        yield rows
        if len(rows) < page_size:
            return


def _record(site: Site, row: dict[str, Any]) -> dict[str, Any]:
    record = {field: row.get(field) for field in EXPORT_FIELDS}
    record["site"] = site.key
    for key in ("receipt_id", "consent_id", "previous_receipt_id"):
        if record[key] is not None:
            record[key] = str(record[key])
    for key in ("recorded_at", "expires_at"):
        record[key] = rfc3339(row[key])
    return record


async def export_receipts(
    site: Site,
    fmt: ExportFormat,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    page_size: int = 1000,
) -> AsyncIterator[bytes]:
    """Yield the export in chunks of bytes; CSV starts with a header row."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(EXPORT_FIELDS)
        yield buffer.getvalue().encode()
    async for page in _pages(site, start, end, page_size):
        if fmt == "jsonl":
            yield b"".join(orjson.dumps(_record(site, row)) + b"\n" for row in page)
            continue
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for row in page:
            record = _record(site, row)
            record["choices"] = orjson.dumps(
                record["choices"], option=orjson.OPT_SORT_KEYS
            ).decode()
            writer.writerow(_csv_safe(record[field]) for field in EXPORT_FIELDS)
        yield buffer.getvalue().encode()


def _csv_safe(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to a spreadsheet: page URLs and user agents come
    # from visitors, so neutralise them (OWASP "CSV injection").
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
