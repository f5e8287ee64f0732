"""The audit log: every change staff make, who, what, when, and before/after for edits.

``record`` is called inside the transaction of the change it describes, so the change and its
entry commit together or not at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..models import AuditEntry, Site, Staff

if TYPE_CHECKING:
    from .staff import Actor

__all__ = ["entries", "record"]

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


async def entries(
    *, site_id: int | None = None, staff_id: int | None = None, before_id: int | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """Newest first, keyset-paged by id (``before_id``: the last id of the previous page)."""
    query = AuditEntry.all()
    if site_id is not None:
        query = query.filter(site_id=site_id)
    if staff_id is not None:
        query = query.filter(staff_id=staff_id)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return await query.order_by("-id").limit(limit).select_related("site")
