"""Staff accounts and their sessions: who may use the admin view, and as what.

Passwords are stored as argon2id hashes (argon2-cffi's defaults, RFC 9106's second
recommended set) and rehashed on the next sign-in when those parameters change. A session is a
row: the browser's cookie holds only its random id (signed by the admin app), so signing out,
a password change or an idle timeout ends it on the server, whatever the browser kept.

Roles, each including the ones below it: ``owner`` (everything, manages staff and sites),
``privacy`` (inventory, banner, publishing, scans, consent log), ``viewer`` (reads only).

Sign-in is guarded twice. Per client address and account, a few failures hold that address
back from that account (``admin.authentication.LoginLimiter``): the right password from an
address with no failures is never refused for someone else's guesses. Across addresses, a
slower cap on the account row: ``LOCK_AFTER`` wrong passwords within ``LOCK_WINDOW`` lock it
for ``LOCK_FOR`` (every server process sees the row, and an owner can lift it:
``staff_lifecycle.unlock``); that takes a guessing campaign from many addresses (OWASP's
authentication guidance: per account and address, plus a global per-account limit). Each
sign-in, failure and lockout is audited as the account itself. What owners do to accounts
(roles, disabling, removing, unlocking) is in ``staff_lifecycle``; one-time reset links in
``password_reset``.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from tortoise.transactions import in_transaction

from .._utils import utcnow
from ..errors import Conflict, InvalidRequest, NotFound
from ..models import Staff, StaffSession, StaffSite
from . import audit, events, installation

__all__ = [
    "LOCK_AFTER",
    "LOCK_FOR",
    "ROLES",
    "Actor",
    "SignIn",
    "account_by_email",
    "authenticate",
    "change_password",
    "clear_failures",
    "count_failure",
    "create_staff",
    "end_session",
    "get_account",
    "has_role",
    "is_locked",
    "list_staff",
    "session_for",
    "set_password",
    "start_session",
    "verify_password",
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
LOCK_AFTER = 50
LOCK_WINDOW = timedelta(hours=1)
LOCK_FOR = timedelta(minutes=15)


@dataclass(frozen=True)
class Actor:
    """The signed-in staff member a request acts as."""

    id: int
    email: str
    name: str
    role: str
    session_id: str
    csrf_token: str
    two_factor: bool = False
    # The ids of the sites a site-limited account may see; None: every site.
    sites: frozenset[int] | None = None
    # An owner without two-factor sign-in where the installation requires it: enrolment is
    # all it may do until then.
    must_enrol: bool = False

    def can(self, role: str) -> bool:
        return has_role(self.role, role)

    def sees(self, site_id: int) -> bool:
        return self.sites is None or site_id in self.sites


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
    hashed = await _hash(password)  # before the transaction: it holds SQLite's connection
    async with in_transaction():
        if await Staff.exists(email=address):
            raise Conflict(f"there is already an account for {address}", field="email")
        staff = await Staff.create(
            email=address, name=name.strip(), role=role, password_hash=hashed
        )
        await audit.record(
            by, "staff.create", "staff", staff.id,
            after={"email": address, "name": staff.name, "role": role},
        )
    return staff


async def get_account(staff_id: int, *, lock: bool = False) -> Staff:
    """The account's row (``lock``: ``SELECT … FOR UPDATE``, inside the caller's
    transaction); ``NotFound`` when there is none."""
    query = Staff.select_for_update() if lock else Staff
    row = await query.get_or_none(id=staff_id)
    if row is None:
        raise NotFound(f"there is no staff account {staff_id}")
    return row


async def account_by_email(email: str) -> Staff:
    row = await Staff.get_or_none(email=normalise_email(email))
    if row is None:
        raise NotFound(f"there is no staff account for {email.strip()}")
    return row


async def list_staff() -> list[Staff]:
    return await Staff.all().order_by("email")


@dataclass(frozen=True)
class SignIn:
    """What a sign-in attempt came to. ``unknown`` (no active account has this email) and
    ``wrong`` must read the same to the person signing in; the caller counts ``unknown``
    attempts itself, since there is no row to keep them on."""

    outcome: Literal["signed_in", "wrong", "unknown", "locked"]
    account: Staff | None = None


def is_locked(account: Staff, now: datetime | None = None) -> bool:
    return account.locked_until is not None and account.locked_until > (now or utcnow())


async def authenticate(email: str, password: str) -> SignIn:
    """Check an email and password against the active accounts and the account's lock; a
    wrong password counts towards the lock (audited, as is the lockout)."""
    try:
        address = normalise_email(email)
    except InvalidRequest:
        address = ""
    staff = await Staff.get_or_none(email=address, active=True) if address else None
    if staff is not None and is_locked(staff):
        return SignIn("locked")
    try:
        # Off the event loop: argon2 takes tens of ms of CPU (more on a loaded machine), and
        # anyone can post the sign-in form. Receipts go on meanwhile.
        await asyncio.to_thread(_hasher.verify, staff.password_hash if staff else _DUMMY_HASH,
                                password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        if staff is None:
            return SignIn("unknown")
        await count_failure(staff)  # a lock this failure sets holds from the next attempt
        return SignIn("wrong")
    if staff is None:
        return SignIn("unknown")
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = await _hash(password)
        await staff.save(update_fields=["password_hash"])
    if staff.totp_secret is None:
        # With two-factor sign-in, only the code clears them: a known password must not
        # wipe the count of guessed codes.
        await clear_failures(staff)
    return SignIn("signed_in", staff)


async def clear_failures(staff: Staff) -> None:
    """After a sign-in step that proved the account: its failures are forgotten."""
    if staff.failed_logins or staff.locked_until:
        await Staff.filter(id=staff.id).update(failed_logins=0, locked_until=None)


async def _hash(password: str) -> str:
    """A new password's hash, made off the event loop (as ``verify_password`` checks)."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(staff: Staff, password: str) -> bool:
    try:
        return await asyncio.to_thread(_hasher.verify, staff.password_hash,
                                       password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return False


async def count_failure(staff: Staff, step: str = "password") -> None:
    """Count a wrong password (or, ``step="code"``, a wrong second-factor code), and lock the
    account at the ``LOCK_AFTER``-th in a window."""
    now = utcnow()
    async with in_transaction():
        row = await Staff.select_for_update().get(id=staff.id)
        recent = row.last_failed_at is not None and now - row.last_failed_at <= LOCK_WINDOW
        row.failed_logins = row.failed_logins + 1 if recent else 1
        row.last_failed_at = now
        locks = row.failed_logins >= LOCK_AFTER
        if locks:
            row.locked_until = now + LOCK_FOR
        await row.save(update_fields=["failed_logins", "last_failed_at", "locked_until"])
        await audit.record(row, "staff.sign_in_failed", "staff", row.id,
                           after={"failures": row.failed_logins}
                           | ({} if step == "password" else {"step": step}))
        if locks:
            await audit.record(row, "staff.lockout", "staff", row.id,
                               after={"locked_until": row.locked_until.isoformat(
                                   timespec="seconds") if row.locked_until else None})
            await events.emit(None, "account.locked", {
                "email": row.email, "failures": row.failed_logins,
                "until": f"{row.locked_until:%Y-%m-%d %H:%M}" if row.locked_until else "?",
                "admin_path": f"/admin/staff/{row.id}",
            }, audience="owners")


async def start_session(
    staff: Staff, user_agent: str = "", *, second_factor: str | None = None
) -> StaffSession:
    """A new session for an account that has just proved who it is (audited as a sign-in;
    ``second_factor``: ``totp`` or ``recovery`` when a second step proved it too)."""
    async with in_transaction():
        session = await StaffSession.create(
            id=secrets.token_urlsafe(32),
            staff=staff,
            csrf_token=secrets.token_urlsafe(32),
            last_seen_at=utcnow(),
            user_agent=_CONTROL.sub("", user_agent)[:300],
        )
        await audit.record(staff, "staff.sign_in", "staff", staff.id,
                           after={"user_agent": session.user_agent}
                           | ({"second_factor": second_factor} if second_factor else {}))
    return session


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
    grants = None
    if s.site_limited:
        grants = frozenset(g.site_id for g in await StaffSite.filter(staff_id=s.id))
    two_factor = s.totp_secret is not None
    must_enrol = (s.role == "owner" and not two_factor
                  and await installation.owner_two_factor())
    return Actor(s.id, s.email, s.name, s.role, row.id, row.csrf_token, two_factor, grants,
                 must_enrol)


async def end_session(session_id: str) -> None:
    await StaffSession.filter(id=session_id).delete()


async def change_password(
    staff_id: int, password: str, *, current: str, by: Actor | None
) -> None:
    """One's own new password, given the one in use (a session left open is not the account:
    it must not take the account over). It ends every session of the account, the current
    one included. A wrong current password counts towards the sign-in lock, as at sign-in."""
    _check_password(password)
    account = await Staff.get(id=staff_id)
    if not await verify_password(account, current):
        await count_failure(account)
        raise InvalidRequest("the current password is wrong", field="current")
    async with in_transaction():
        await set_password(account, password)
        await audit.record(by, "staff.password", "staff", staff_id)


async def set_password(staff: Staff, password: str) -> None:
    """Inside the caller's transaction: the new hash, every session of the account ended, and
    the sign-in lock lifted (whoever set the password knows it)."""
    _check_password(password)
    staff.password_hash = await _hash(password)
    staff.password_changed_at = utcnow()
    staff.failed_logins = 0
    staff.locked_until = None
    await staff.save(update_fields=["password_hash", "password_changed_at", "failed_logins",
                                    "locked_until"])
    await StaffSession.filter(staff_id=staff.id).delete()
