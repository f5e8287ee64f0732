"""Site-limited accounts: an account can be limited to chosen sites (an agency's staff see their
own clients). A limited account sees those sites and nothing of any other: the admin's one
permission check (``admin/_security.requires``) answers 404 for another site's pages, and the
lists (``sites.list_sites``, the audit log) take the account's ``Actor.sites``. A limited
account with no site left sees no site at all; it is never widened by accident.

Only an owner of every site changes limits (the admin refuses limited owners everything that
is not one site's), nobody limits themselves, and the last active unlimited owner stays
unlimited (their rows locked before they are counted, as ``staff_lifecycle`` does), so some
owner can always reach every site and every account.
"""

from __future__ import annotations

from collections.abc import Iterable

from tortoise.transactions import in_transaction

from ..errors import Conflict, InvalidRequest
from ..models import Site, Staff, StaffSite
from . import audit, revisions
from .staff import Actor, get_account

__all__ = ["grants", "set_limits", "site_names"]


async def grants(staff_id: int) -> frozenset[int] | None:
    """The ids of the sites the account may see; None when it is not limited."""
    row = await get_account(staff_id)
    if not row.site_limited:
        return None
    return frozenset(g.site_id for g in await StaffSite.filter(staff_id=staff_id))


async def site_names(staff_ids: Iterable[int]) -> dict[int, list[str]]:
    """For each of the accounts, the names of the sites it is granted (in name order)."""
    ids = list(staff_ids)
    if not ids:
        return {}
    rows = await StaffSite.filter(staff_id__in=ids).select_related("site").order_by(
        "site__name", "site_id")
    found: dict[int, list[str]] = {}
    for row in rows:
        found.setdefault(row.staff_id, []).append(row.site.name)
    return found


async def set_limits(
    staff_id: int, limited: bool, site_ids: Iterable[int], *, by: Actor | None,
    version: int | None = None,
) -> None:
    """Limit the account to ``site_ids`` (or, ``limited=False``, to none: every site), over
    ``version`` (``revisions.staff``) when given."""
    wanted = frozenset(site_ids) if limited else frozenset()
    async with in_transaction():
        row = await get_account(staff_id, lock=True)
        if by is not None and by.id == row.id:
            raise InvalidRequest("You cannot limit your own account: ask another owner.")
        found = {s.id: s.key for s in await Site.filter(id__in=wanted)} if wanted else {}
        if len(found) != len(wanted):
            raise InvalidRequest("Choose sites from the list.", field="sites")
        before = await grants(row.id)
        if before == (wanted if limited else None):
            return
        if limited and row.role == "owner" and row.active and not row.site_limited:
            others = await Staff.select_for_update().filter(
                role="owner", active=True, site_limited=False).exclude(id=row.id)
            if not others:
                raise Conflict(f"{row.email} is the last owner of every site: make another "
                               "account an owner of every site first.")
        row.site_limited = limited
        await row.save(update_fields=["site_limited"])
        await StaffSite.filter(staff_id=row.id).delete()
        await StaffSite.bulk_create([StaffSite(staff_id=row.id, site_id=i) for i in wanted])
        keys_before = "all" if before is None else sorted(
            await Site.filter(id__in=before).values_list("key", flat=True))
        entry = await audit.record(
            by, "staff.sites", "staff", row.id,
            before={"email": row.email, "sites": keys_before},
            after={"email": row.email, "sites": sorted(found.values()) if limited else "all"})
        await revisions.advance(revisions.staff(row.id), entry, version)
