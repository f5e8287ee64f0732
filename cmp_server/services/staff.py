"""Staff accounts and their sessions: who may use the admin view, and as what.

Passwords are stored as argon2id hashes (argon2-cffi's defaults, RFC 9106's second
recommended set) and rehashed on the next sign-in when those parameters change. A session is a
row: the browser's cookie holds only its random id (signed by the admin app), so signing out,
a password change or an idle timeout ends it on the server, whatever the browser kept.

Roles, each including the ones below it: ``owner`` (everything, manages staff and sites),
``privacy`` (inventory, banner, publishing, scans, consent log), ``viewer`` (reads only).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from tortoise.transactions import in_transaction

from .._utils import utcnow
from ..errors import Conflict, InvalidRequest
from ..models import Staff, StaffSession
from . import audit

__all__ = [
    "ROLES",
    "Actor",
    "authenticate",
    "change_password",
    "create_staff",
    "end_session",
    "has_role",
    "list_staff",
    "session_for",
    "start_session",
]

ROLES = ("viewer", "privacy", "owner")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
_EMAIL = re.compile(
    r"[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,190}\.[^@\s\x00-\x1f\x7f]{2,63}"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_hasher = PasswordHasher()
# Verified against when the email is unknown, so a wrong email takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class Actor:
    """The signed-in staff member a request acts as."""

    id: int
    email: str
    name: str
    role: str
    session_id: str
    csrf_token: str

    def can(self, role: str) -> bool:
        return has_role(self.role, role)


def has_role(held: str, needed: str) -> bool:
    return ROLES.index(held) >= ROLES.index(needed)


def normalise_email(email: str) -> str:
    text = email.strip().lower()
    if len(text) > 254 or not _EMAIL.fullmatch(text):
        raise InvalidRequest(f"not an email address: {email!r}", field="email")
    return text


def _check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidRequest(
            f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters", field="password"
        )


async def create_staff(
    email: str, password: str, role: str, *, name: str = "", by: Actor | None = None
) -> Staff:
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}", field="role")
    address = normalise_email(email)
    _check_password(password)
    if _CONTROL.search(name) or len(name) > 200:
        raise InvalidRequest("a name is at most 200 characters, without control characters",
                             field="name")
    async with in_transaction():
        if await Staff.exists(email=address):
            raise Conflict(f"there is already an account for {address}", field="email")
        staff = await Staff.create(
            email=address, name=name.strip(), role=role, password_hash=_hasher.hash(password)
        )
        await audit.record(
            by, "staff.create", "staff", staff.id,
            after={"email": address, "name": staff.name, "role": role},
        )
    return staff


async def list_staff() -> list[Staff]:
    return await Staff.all().order_by("email")


async def authenticate(email: str, password: str) -> Staff | None:
    """The active account with this email and password, or None (whichever was wrong)."""
    try:
        address = normalise_email(email)
    except InvalidRequest:
        address = ""
    staff = await Staff.get_or_none(email=address, active=True) if address else None
    try:
        _hasher.verify(staff.password_hash if staff else _DUMMY_HASH, password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return None
    if staff is None:
        return None
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = _hasher.hash(password)
        await staff.save(update_fields=["password_hash"])
    return staff


async def start_session(staff: Staff, user_agent: str = "") -> StaffSession:
    return await StaffSession.create(
        id=secrets.token_urlsafe(32),
        staff=staff,
        csrf_token=secrets.token_urlsafe(32),
        last_seen_at=utcnow(),
        user_agent=user_agent[:300],
    )


async def session_for(session_id: str, idle: timedelta) -> Actor | None:
    """The actor of a live session, its idle clock reset; None (and the row gone) once it has
    been idle longer than ``idle``."""
    if not 0 < len(session_id) <= 64:
        return None
    row = await StaffSession.get_or_none(id=session_id).select_related("staff")
    if row is None:
        return None
    now = utcnow()
    if now - row.last_seen_at > idle or not row.staff.active:
        await row.delete()
        return None
    # Written at most once a minute: a page view is not a write.
    if now - row.last_seen_at > timedelta(minutes=1):
        await StaffSession.filter(id=row.id).update(last_seen_at=now)
    s = row.staff
    return Actor(s.id, s.email, s.name, s.role, row.id, row.csrf_token)


async def end_session(session_id: str) -> None:
    await StaffSession.filter(id=session_id).delete()


async def change_password(staff_id: int, password: str, *, by: Actor | None) -> None:
    """A new password ends every session of the account (the current one included)."""
    _check_password(password)
    async with in_transaction():
        staff = await Staff.get(id=staff_id)
        staff.password_hash = _hasher.hash(password)
        staff.password_changed_at = utcnow()
        await staff.save(update_fields=["password_hash", "password_changed_at"])
        await StaffSession.filter(staff_id=staff_id).delete()
        await audit.record(by, "staff.password", "staff", staff_id)
