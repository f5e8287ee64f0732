"""One-time password-reset links an owner issues for a staff account.

A link carries 256 random bits; only their SHA-256 is stored, so the table holds no usable
link. It works once, for ``VALID`` (24 hours), and only while the account is active; issuing a
new one voids the account's earlier unused links. Using it sets the password, which ends the
account's sessions and lifts its sign-in lock (``staff.set_password``).

Delivery is the seam for mail: the link is always returned, for the owner to see once, and is
also handed to a ``Mailer`` when one is given. This project has no mail settings yet; the day it
has, the composition root builds a ``Mailer`` from them and passes it in (``mailed`` then says
the link went out).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from tortoise.transactions import in_transaction

from .._utils import sha256_hex, utcnow
from ..errors import InvalidRequest, NotFound
from ..models import PasswordReset, Staff
from . import audit, revisions
from .staff import Actor, set_password

__all__ = ["VALID", "IssuedReset", "Mailer", "issue", "redeem", "valid_for"]

VALID = timedelta(hours=24)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
GONE = ("This reset link is not valid: it was used, replaced or has expired. Ask an owner "
        "for a new one.")


class Mailer(Protocol):
    async def send(self, to: str, subject: str, text: str) -> None: ...


@dataclass(frozen=True)
class IssuedReset:
    email: str
    url: str
    expires_at: datetime
    mailed: bool


def _hash(token: str) -> str:
    return sha256_hex(token.encode())


async def issue(
    staff_id: int, *, by: Actor | None, link: Callable[[str], str], mailer: Mailer | None = None,
    version: int | None = None,
) -> IssuedReset:
    """A new link for the account (``link(token)`` makes its address), audited; earlier unused
    links of the account stop working. Refused (``StaleEdit``) when the account changed since
    ``version`` (``revisions.staff``), when given: the owner decided on what the page showed."""
    token = secrets.token_urlsafe(32)
    expires = utcnow() + VALID
    async with in_transaction():
        row = await Staff.select_for_update().get_or_none(id=staff_id)
        if row is None:
            raise NotFound(f"there is no staff account {staff_id}")
        await revisions.check(revisions.staff(row.id), version)
        if not row.active:
            raise InvalidRequest(f"{row.email} is disabled: enable it before sending a "
                                 "reset link.")
        await PasswordReset.filter(staff_id=row.id, used_at=None).delete()
        await PasswordReset.create(staff=row, token_hash=_hash(token), expires_at=expires)
        await audit.record(by, "staff.reset_issued", "staff", row.id,
                           after={"email": row.email, "expires_at": expires.isoformat(
                               timespec="seconds"), "mailed": mailer is not None})
    url = link(token)
    if mailer is not None:
        await mailer.send(row.email, "Set your password for the consent admin",
                          f"Open this link within 24 hours to set a new password:\n\n{url}\n")
    return IssuedReset(row.email, url, expires, mailer is not None)


async def _open(token: str, *, lock: bool = False) -> PasswordReset:
    if not _TOKEN.fullmatch(token):
        raise NotFound(GONE)
    query = PasswordReset.select_for_update() if lock else PasswordReset
    reset = await query.get_or_none(token_hash=_hash(token))
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow():
        raise NotFound(GONE)
    await reset.fetch_related("staff")
    if not reset.staff.active:
        raise NotFound(GONE)
    return reset


async def valid_for(token: str) -> str:
    """The email of the account a working link is for (``NotFound`` for any other)."""
    return (await _open(token)).staff.email


async def redeem(token: str, password: str) -> str:
    """Set the account's password through the link, once; returns the account's email."""
    async with in_transaction():
        reset = await _open(token, lock=True)
        await set_password(reset.staff, password)
        reset.used_at = utcnow()
        await reset.save(update_fields=["used_at"])
        await audit.record(reset.staff, "staff.password_reset", "staff", reset.staff_id,
                           after={"email": reset.staff.email})
    return reset.staff.email
