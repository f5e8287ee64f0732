"""The audit log: every change staff make, who, what, when, and before/after for edits.

``record`` is called inside the transaction of the change it describes, so the change and its
entry commit together or not at all. ``entries`` reads the log newest first, filtered by site,
account, action and time, keyset-paged by id; ``audit_view`` turns an entry into what staff
read (field by field, before → after) and writes the CSV export.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tortoise.queryset import QuerySet

from ..models import AuditEntry, Site, Staff

if TYPE_CHECKING:
    from .staff import Actor

__all__ = ["AuditFilter", "actions", "entries", "record"]

SYSTEM = "system"  # the command line, the demo: no staff account


async def record(
    actor: Actor | Staff | None,
    action: str,
    object_type: str,
    object_id: object = None,
    *,
    site: Site | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    return await AuditEntry.create(
        staff_id=actor.id if actor else None,
        actor=actor.email if actor else SYSTEM,
        site=site,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        before=before,
        after=after,
    )


@dataclass(frozen=True)
class AuditFilter:
    """Which entries: ``action`` is one action (``staff.role``) or a family (``staff``: every
    ``staff.…``); ``start`` inclusive, ``end`` exclusive. Empty fields match everything."""

    site_id: int | None = None
    staff_id: int | None = None
    action: str = ""
    start: datetime | None = None
    end: datetime | None = None
    # A site-limited reader's sites: the entries of those sites only (none of other sites, nor
    # the installation's own: accounts, sign-ins). None: every entry.
    visible: frozenset[int] | None = None

    def query(self) -> QuerySet[AuditEntry]:
        query = AuditEntry.all()
        if self.visible is not None:
            query = query.filter(site_id__in=self.visible)
        if self.site_id is not None:
            query = query.filter(site_id=self.site_id)
        if self.staff_id is not None:
            query = query.filter(staff_id=self.staff_id)
        if self.action and "." in self.action:
            query = query.filter(action=self.action)
        elif self.action:
            query = query.filter(action__startswith=f"{self.action}.")
        if self.start is not None:
            query = query.filter(at__gte=self.start)
        if self.end is not None:
            query = query.filter(at__lt=self.end)
        return query

    def describe(self) -> dict[str, Any]:
        def plain(v: Any) -> Any:
            if isinstance(v, datetime):
                return v.isoformat()
            return sorted(v) if isinstance(v, frozenset) else v

        return {k: plain(v) for k, v in vars(self).items() if v not in (None, "")}


async def entries(
    where: AuditFilter | None = None, *, before_id: int | None = None, limit: int = 50
) -> list[AuditEntry]:
    """Newest first, keyset-paged by id (``before_id``: the last id of the previous page)."""
    query = (where or AuditFilter()).query()
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return await query.order_by("-id").limit(limit).select_related("site")


async def actions() -> list[str]:
    """Every action the log holds, for the filter to offer (read from the (action, id)
    index)."""
    found = await AuditEntry.all().distinct().order_by("action").values_list("action", flat=True)
    return [str(a) for a in found]
