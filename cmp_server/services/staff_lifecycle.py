"""What owners do to staff accounts after creating them: change a role, disable and re-enable,
remove, lift the sign-in lock. Each change and its audit row commit together.

Two guards hold whatever the order of requests:

- nobody changes their own role, disables or removes themselves (another owner must): an
  owner cannot lock themselves out;
- the last active owner is never demoted, disabled or removed. The active owners' rows are
  locked (``SELECT … FOR UPDATE``) before they are counted, so two owners disabling each other
  at once end with one of them refused, not with no owner at all.

Disabling ends the account's sessions in the same transaction: its open page is signed out at
its next request. Removing deletes the account; the audit log keeps its email (``actor`` is
written as text) and the removal's own entry keeps its name and role.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.transactions import in_transaction

from .._utils import utcnow
from ..errors import Conflict, InvalidRequest
from ..models import PasswordReset, Staff, StaffSession
from . import audit, revisions
from .staff import ROLES, Actor, get_account, is_locked
from .staff_sites import site_names

__all__ = ["Account", "account", "accounts", "remove", "set_active", "set_role", "unlock"]


@dataclass(frozen=True)
class Account:
    """A staff account as the owners' pages show it."""

    id: int
    email: str
    name: str
    role: str
    active: bool
    created_at: datetime
    locked_until: datetime | None  # set only while locked
    failed_logins: int
    reset_until: datetime | None  # an unused reset link is valid until then
    two_factor: bool
    site_limited: bool
    sites: tuple[str, ...]  # the names of the sites a limited account may see


def _account(row: Staff, resets: dict[int, datetime], now: datetime,
             sites: dict[int, list[str]]) -> Account:
    return Account(
        row.id, row.email, row.name, row.role, row.active, row.created_at,
        row.locked_until if is_locked(row, now) else None, row.failed_logins,
        resets.get(row.id), row.totp_secret is not None, row.site_limited,
        tuple(sites.get(row.id, ())),
    )


async def _open_resets(now: datetime, staff_id: int | None = None) -> dict[int, datetime]:
    query = PasswordReset.filter(used_at=None, expires_at__gt=now)
    if staff_id is not None:
        query = query.filter(staff_id=staff_id)
    return {r.staff_id: r.expires_at for r in await query.order_by("expires_at")}


async def accounts() -> list[Account]:
    now = utcnow()
    resets = await _open_resets(now)
    rows = await Staff.all().order_by("email")
    sites = await site_names([r.id for r in rows if r.site_limited])
    return [_account(r, resets, now, sites) for r in rows]


async def account(staff_id: int) -> Account:
    now = utcnow()
    row = await get_account(staff_id)
    sites = await site_names([row.id]) if row.site_limited else {}
    return _account(row, await _open_resets(now, staff_id), now, sites)


async def _guard(by: Actor | None, target: Staff, *, keeps_owner: bool, what: str) -> None:
    """Refuse a change to one's own account, and one that leaves no active owner. Run inside
    the change's transaction."""
    if by is not None and by.id == target.id:
        raise InvalidRequest(f"You cannot {what} your own account: ask another owner.")
    if keeps_owner or target.role != "owner" or not target.active or target.site_limited:
        return
    # The owners of every site: a site-limited owner manages no accounts (staff_sites).
    owners = await Staff.select_for_update().filter(
        role="owner", active=True, site_limited=False).order_by("id")
    others = [o for o in owners if o.id != target.id]
    if not others or (by is not None and by.id not in {o.id for o in others}):
        raise Conflict(f"{target.email} is the last active owner: make another account an "
                       "owner first.")


def _summary(row: Staff) -> dict[str, object]:
    return {"email": row.email, "name": row.name, "role": row.role, "active": row.active}


async def set_role(
    staff_id: int, role: str, *, by: Actor | None, version: int | None = None
) -> None:
    """Change the role; over ``version`` (``revisions.staff``) when given."""
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}", field="role")
    async with in_transaction():
        row = await get_account(staff_id, lock=True)
        if row.role == role:
            return
        await _guard(by, row, keeps_owner=role == "owner", what="change the role of")
        before = row.role
        row.role = role
        await row.save(update_fields=["role"])
        entry = await audit.record(by, "staff.role", "staff", row.id,
                                   before={"email": row.email, "role": before},
                                   after={"email": row.email, "role": role})
        await revisions.advance(revisions.staff(row.id), entry, version)


async def set_active(
    staff_id: int, active: bool, *, by: Actor | None, version: int | None = None
) -> None:
    """Disable (its sessions and unused reset links end with it) or enable an account;
    over ``version`` (``revisions.staff``) when given."""
    async with in_transaction():
        row = await get_account(staff_id, lock=True)
        if row.active == active:
            return
        await _guard(by, row, keeps_owner=active, what="disable")
        row.active = active
        await row.save(update_fields=["active"])
        if not active:
            await StaffSession.filter(staff_id=row.id).delete()
            await PasswordReset.filter(staff_id=row.id, used_at=None).delete()
        entry = await audit.record(
            by, "staff.enable" if active else "staff.disable", "staff", row.id,
            before={"email": row.email, "active": not active},
            after={"email": row.email, "active": active})
        await revisions.advance(revisions.staff(row.id), entry, version)


async def remove(staff_id: int, *, by: Actor | None, version: int | None = None) -> str:
    """Delete the account (its sessions and reset links with it); returns its email. Refused
    (``StaleEdit``) when it changed since ``version`` (``revisions.staff``), when given."""
    async with in_transaction():
        row = await get_account(staff_id, lock=True)
        await revisions.check(revisions.staff(row.id), version)
        await _guard(by, row, keeps_owner=False, what="remove")
        await audit.record(by, "staff.remove", "staff", row.id, before=_summary(row))
        await row.delete()
    return row.email


async def unlock(staff_id: int, *, by: Actor | None, version: int | None = None) -> None:
    """Lift the sign-in lock and forget the failures counted towards it; refused
    (``StaleEdit``) when the account changed since ``version``, when given."""
    async with in_transaction():
        row = await get_account(staff_id, lock=True)
        await revisions.check(revisions.staff(row.id), version)
        if not row.failed_logins and row.locked_until is None:
            return
        before = {"email": row.email, "failures": row.failed_logins,
                  "locked_until": row.locked_until.isoformat(timespec="seconds")
                  if is_locked(row) and row.locked_until else None}
        row.failed_logins, row.locked_until = 0, None
        await row.save(update_fields=["failed_logins", "locked_until"])
        await audit.record(by, "staff.unlock", "staff", row.id, before=before,
                           after={"email": row.email, "failures": 0, "locked_until": None})
