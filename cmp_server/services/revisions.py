"""No lost update: every form that edits a stored thing carries the version it was read at,
and a save over a newer version is refused (optimistic locking, one mechanism for every
such form: texts per language, purposes, items, vendors, site settings, staff accounts,
scan schedules).

A thing's version is its *stamp*: the id of the audit entry of its last change (0: none
yet), kept in the ``revision`` table under the thing's ``Subject.key``. Every service that
saves such a thing writes its audit entry and then calls ``advance`` in the same transaction:

    UPDATE revision SET stamp = <the new entry's id> WHERE key = ? AND stamp = <read at>

The compare-and-set is that one statement. No row updated means another save moved the
stamp since the form was read: ``StaleEdit``, and the transaction (the change, its audit
entry) rolls back. On PostgreSQL the UPDATE waits for a concurrent save of the same thing
and then compares against what it committed; SQLite has one writer at a time. A save that
changes nothing writes no entry and moves nothing, whatever version it carried. A caller
that gives no version (the command line, the demo) is not checked but still moves the stamp,
so a form read before it is refused.

Because the stamp is an audit entry's id, what changed meanwhile is the audit log's: the
subject's entries after the stamp a form carried (``since``): who, when, before and after.
A page reads the stamp *before* the values it shows, so the values are at least as new as
the version the form carries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..errors import StaleEdit
from ..models import AuditEntry, Revision, Site

__all__ = [
    "Subject",
    "advance",
    "advance_all",
    "item",
    "purpose",
    "schedule",
    "settings",
    "since",
    "stamp",
    "stamps",
    "staff",
    "texts",
    "vendor",
]

STALE = ("was changed by someone else after you opened this page: saving would undo that "
         "change")


@dataclass(frozen=True)
class Subject:
    """A thing staff edit through a form: its revision's key, and how the audit log names
    its changes (``actions``: prefixes; ``language``: only the entries of that language)."""

    key: str
    object_type: str
    object_id: str
    actions: tuple[str, ...]
    site_id: int | None = None
    language: str | None = None
    what: str = "This"  # "The item", in the refusal's message

    def covers(self, entry: AuditEntry) -> bool:
        if not entry.action.startswith(self.actions):
            return False
        if self.language is None:
            return True
        return any(isinstance(side, dict) and side.get("language") == self.language
                   for side in (entry.before, entry.after))


def texts(site: Site, language: str) -> Subject:
    return Subject(f"texts:{site.id}:{language}", "site", site.key, ("banner.texts",),
                   site.id, language, f"The {language} texts")


def settings(site: Site) -> Subject:
    """The site's settings, the retention period among them (two pages edit it)."""
    return Subject(f"site:{site.id}", "site", site.key, ("site.update",), site.id,
                   what="The site's settings")


def purpose(site: Site, key: str) -> Subject:
    return Subject(f"purpose:{site.id}:{key}", "purpose", key, ("purpose.",), site.id,
                   what=f"The purpose {key}")


def item(site: Site, item_id: int) -> Subject:
    return Subject(f"item:{item_id}", "inventory_item", str(item_id), ("inventory.",),
                   site.id, what="The item")


def vendor(site: Site, vendor_id: int) -> Subject:
    return Subject(f"vendor:{vendor_id}", "vendor", str(vendor_id), ("vendor.",), site.id,
                   what="The vendor")


def schedule(site: Site, schedule_id: int) -> Subject:
    return Subject(f"schedule:{schedule_id}", "scan_schedule", str(schedule_id),
                   ("scan.schedule.",), site.id, what="The schedule")


def staff(staff_id: int) -> Subject:
    return Subject(f"staff:{staff_id}", "staff", str(staff_id),
                   ("staff.role", "staff.enable", "staff.disable"), what="The account")


async def stamp(subject: Subject) -> int:
    """The version a form reads the thing at: read it before the values the form shows."""
    return (await stamps([subject])).get(subject.key, 0)


async def stamps(subjects: Iterable[Subject]) -> dict[str, int]:
    """Many at once (a list page's rows), by key; 0 for a thing never saved since."""
    keys = [s.key for s in subjects]
    found = await Revision.filter(key__in=keys).values_list("key", "stamp") if keys else []
    known = {str(k): int(v) for k, v in found}
    return {key: known.get(key, 0) for key in keys}


async def _rows(keys: Iterable[str]) -> None:
    """A revision row for each key (stamp 0), so the compare-and-set has a row to compare:
    one INSERT that skips the keys already there (and waits on PostgreSQL for a concurrent
    first save's row)."""
    await Revision.bulk_create([Revision(key=k, stamp=0) for k in keys], ignore_conflicts=True)


async def advance(subject: Subject, entry: AuditEntry | None, expected: int | None) -> None:
    """After a save wrote ``entry`` (None: it changed nothing), inside its transaction: move
    the stamp to the entry, if it is still ``expected`` (None: not checked)."""
    if entry is None:
        return
    await _rows([subject.key])
    query = Revision.filter(key=subject.key)
    if expected is not None:
        query = query.filter(stamp=expected)
    if not await query.update(stamp=entry.id):
        raise StaleEdit(f"{subject.what} {STALE}.", keys=(subject.key,))


async def advance_all(expected: Mapping[Subject, int | None], to: int) -> None:
    """``advance`` for many things one change touched (a bulk action), inside its
    transaction: one UPDATE per version read at. One of them no longer as read refuses the
    whole change (``StaleEdit.keys``: those the caller should compare again)."""
    await _rows(sorted(s.key for s in expected))
    groups: dict[int | None, list[str]] = {}
    for subject, version in expected.items():
        groups.setdefault(version, []).append(subject.key)
    stale: list[str] = []
    for version, keys in groups.items():
        query = Revision.filter(key__in=keys)
        if version is not None:
            query = query.filter(stamp=version)
        if await query.update(stamp=to) != len(keys):
            # Those it did not move: ``to`` is a new entry's id, no earlier stamp equals it.
            left = Revision.filter(key__in=keys).exclude(stamp=to)
            stale.extend(str(k) for k in await left.values_list("key", flat=True))
    if stale:
        raise StaleEdit(f"{len(stale)} of them {STALE}.", keys=tuple(stale))


async def since(subject: Subject, version: int, *, limit: int = 20) -> list[AuditEntry]:
    """The subject's changes after ``version``, oldest first: what a form read at
    ``version`` has not seen."""
    query = AuditEntry.filter(object_type=subject.object_type, object_id=subject.object_id,
                              id__gt=version)
    if subject.site_id is not None:
        query = query.filter(site_id=subject.site_id)
    found = await query.order_by("id").limit(limit * 5)
    return [e for e in found if subject.covers(e)][:limit]
