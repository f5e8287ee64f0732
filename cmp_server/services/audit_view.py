"""The audit log as staff read it: each entry field by field, before → after, in plain text
with real characters (``Kursgården``, never ``Kursg\\u00e5rden``); and as a CSV export.

Nested values are flattened to dotted names (``texts.sv.title``), so a change to one text of
one language is one line, not two JSON documents to compare by eye. The export is written to
the audit log before its first byte, and every cell that a spreadsheet would run as a formula
is neutralised (``export.csv_safe``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from .._utils import rfc3339
from ..models import AuditEntry
from . import audit
from .audit import AuditFilter
from .export import BOM, csv_safe

if TYPE_CHECKING:
    from .staff import Actor

__all__ = ["CSV_FIELDS", "LONG", "Change", "begin_export", "changes", "text"]

LONG = 80  # characters: a longer value is folded on the page
NONE = "—"
CSV_FIELDS = ("id", "at", "actor", "action", "object_type", "object_id", "site", "changes",
              "before", "after")


@dataclass(frozen=True)
class Change:
    field: str
    before: str  # "" when the entry has no before (a creation)
    after: str  # "" when it has no after (a removal)

    @property
    def long(self) -> bool:
        return any(len(v) > LONG or "\n" in v for v in (self.before, self.after))


def text(value: Any) -> str:
    """A stored value as plain text."""
    if value is None or value == {} or value == []:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value)
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()  # real characters


def _flat(value: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            yield from _flat(item, f"{name}.")
        else:
            yield name, item


def changes(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[Change]:
    """What an entry changed, one field a line, in the order the entry wrote them; a field
    both sides hold alike is left out (it named the object, it did not change)."""
    old = dict(_flat(before)) if isinstance(before, Mapping) else {}
    new = dict(_flat(after)) if isinstance(after, Mapping) else {}
    names = list(dict.fromkeys([*new, *old]))
    if before is not None and after is not None:
        names = [n for n in names if old.get(n) != new.get(n)]
    return [
        Change(n, text(old.get(n)) if before is not None else "",
               text(new.get(n)) if after is not None else "")
        for n in names
    ]


def _line(change: Change) -> str:
    if not change.before:
        return f"{change.field}: {change.after}"
    if not change.after:
        return f"{change.field}: {change.before} (removed)"
    return f"{change.field}: {change.before} → {change.after}"


def _row(entry: AuditEntry) -> list[Any]:
    return [csv_safe(v) for v in (
        entry.id, rfc3339(entry.at), entry.actor, entry.action, entry.object_type,
        entry.object_id or "", entry.site.key if entry.site else "",
        "\n".join(_line(c) for c in changes(entry.before, entry.after)),
        orjson.dumps(entry.before).decode() if entry.before is not None else "",
        orjson.dumps(entry.after).decode() if entry.after is not None else "",
    )]


async def _csv(where: AuditFilter, page_size: int) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(CSV_FIELDS)
    yield BOM + buffer.getvalue().encode()
    before: int | None = None
    while True:
        page = await audit.entries(where, before_id=before, limit=page_size)
        if not page:
            return
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for entry in page:
            writer.writerow(_row(entry))
        yield buffer.getvalue().encode()
        if len(page) < page_size:
            return
        before = page[-1].id


async def begin_export(
    where: AuditFilter, *, by: Actor | None, page_size: int = 500
) -> AsyncIterator[bytes]:
    """Record the export (who, which filter), then return the stream, newest first."""
    await audit.record(by, "audit.export", "audit_entry", after={"filter": where.describe()})
    return _csv(where, page_size)
