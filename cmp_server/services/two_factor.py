"""Two-factor sign-in: time-based one-time codes (TOTP, RFC 6238: six digits every 30 seconds,
what every authenticator app reads from a QR code) and one-time recovery codes.

What holds:

- The secret is sealed (AES-GCM, ``Sealer``) under a key derived from the server's secret and
  bound to its account's id, so a copy of the database alone yields no usable secret, and a
  sealed secret moved to another row does not open. It is shown only while enrolling.
- Enrolment takes two steps: ``begin`` keeps a pending secret; ``confirm``, given a code made
  from it, turns two-factor sign-in on and returns the recovery codes, the only time anyone
  sees them.
- A code counts once. The time step of the last code accepted is kept on the account, and a
  code of that step or an earlier one is refused; the check and the new step are one
  conditional UPDATE, so two requests carrying the same code cannot both pass.
- Recovery codes: ``RECOVERY_CODES`` of them, 80 random bits each, stored as SHA-256, each
  good once (also one conditional UPDATE).
- Turning it off asks for the password and a code; an owner can reset another account's
  (``reset``). Every change is audited. A wrong code counts towards the account's sign-in lock
  exactly as a wrong password does (``staff.count_failure``).

If the server's secret changes, sealed secrets no longer open: those accounts sign in with a
recovery code, or an owner resets their two-factor sign-in.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from .._utils import sha256_hex, utcnow
from ..errors import Conflict, InvalidRequest
from ..models import RecoveryCode, Staff
from . import audit, revisions
from .staff import Actor, count_failure, get_account, verify_password

__all__ = [
    "RECOVERY_CODES",
    "Enrolment",
    "Sealer",
    "Status",
    "begin",
    "check",
    "confirm",
    "new_recovery_codes",
    "pending_account",
    "proof_of",
    "reset",
    "status",
    "turn_off",
]

RECOVERY_CODES = 10
ISSUER = "Consent admin"
_DIGITS = re.compile(r"[0-9]{6}")
_RECOVERY = re.compile(r"[a-z2-7]{16}")
WRONG_CODE = "That code is wrong or was already used: enter the newest one from your app."

Factor = Literal["totp", "recovery"]


class Sealer:
    """Seals and opens an account's TOTP secret (AES-256-GCM, the key from the server's
    secret through HKDF-SHA256, the account's id as associated data)."""

    PREFIX = "v1."

    def __init__(self, server_secret: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"cmp-admin-totp-secret").derive(server_secret.encode())
        self._aead = AESGCM(key)

    def seal(self, secret: str, staff_id: int) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, secret.encode(), f"staff:{staff_id}".encode())
        return self.PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str, staff_id: int) -> str | None:
        """The secret, or None when it does not open (another server secret, another row)."""
        if not sealed.startswith(self.PREFIX):
            return None
        try:
            raw = base64.urlsafe_b64decode(sealed[len(self.PREFIX):])
            return self._aead.decrypt(raw[:12], raw[12:], f"staff:{staff_id}".encode()).decode()
        except (InvalidTag, ValueError):
            return None


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows, once: the secret as text and as an otpauth:// URI."""

    secret: str
    uri: str


@dataclass(frozen=True)
class Status:
    enabled: bool
    enabled_at: datetime | None
    recovery_left: int


async def status(staff_id: int) -> Status:
    row = await get_account(staff_id)
    left = await RecoveryCode.filter(staff_id=staff_id, used_at=None).count()
    return Status(row.totp_secret is not None, row.totp_enabled_at, left)


def _uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


async def _pending(staff_id: int, sealer: Sealer) -> tuple[Staff, str | None]:
    """The account's row, locked, and its pending secret if one opens (inside the caller's
    transaction); ``Conflict`` when two-factor sign-in is on already."""
    row = await get_account(staff_id, lock=True)
    if row.totp_secret is not None:
        raise Conflict("Two-factor sign-in is already on for this account.")
    return row, sealer.open(row.totp_pending, row.id) if row.totp_pending else None


async def begin(staff_id: int, sealer: Sealer) -> Enrolment:
    """The pending secret (a new one unless one is already pending and still opens)."""
    async with in_transaction():
        row, secret = await _pending(staff_id, sealer)
        if secret is None:
            secret = pyotp.random_base32()  # 160 bits, as RFC 4226 recommends
            row.totp_pending = sealer.seal(secret, row.id)
            await row.save(update_fields=["totp_pending"])
    return Enrolment(secret, _uri(secret, row.email))


def _normalise(code: str) -> str:
    return re.sub(r"[\s-]", "", code[:64]).lower()


def _step_of(secret: str, code: str, now: datetime) -> int | None:
    """The time step (now, or one either side for a clock a little off) whose code this is."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    found = None
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


async def _use_step(row: Staff, step: int) -> bool:
    """Claim ``step`` as the account's latest used one: False if it or a later one was."""
    claimed = await Staff.filter(id=row.id).filter(
        Q(totp_last_step__isnull=True) | Q(totp_last_step__lt=step)
    ).update(totp_last_step=step)
    return bool(claimed)


async def _new_codes(row: Staff) -> list[str]:
    """Fresh recovery codes for the account (inside the caller's transaction): the old ones
    stop working."""
    await RecoveryCode.filter(staff_id=row.id).delete()
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    codes = ["".join(secrets.choice(alphabet) for _ in range(16))
             for _ in range(RECOVERY_CODES)]
    await RecoveryCode.bulk_create(
        [RecoveryCode(staff_id=row.id, code_hash=sha256_hex(c.encode())) for c in codes])
    return ["-".join(c[i:i + 4] for i in range(0, 16, 4)) for c in codes]


async def confirm(staff_id: int, code: str, sealer: Sealer, *, by: Actor) -> list[str]:
    """Turn two-factor sign-in on with a code from the pending secret; returns the recovery
    codes (to be shown now, once)."""
    text = _normalise(code)
    async with in_transaction():
        row, secret = await _pending(staff_id, sealer)
        if secret is None:
            raise InvalidRequest("Start again: the page had no code to confirm.", field="code")
        step = _step_of(secret, text, utcnow()) if _DIGITS.fullmatch(text) else None
        if step is None:
            raise InvalidRequest(WRONG_CODE, field="code")
        row.totp_secret, row.totp_pending = row.totp_pending, None
        row.totp_enabled_at, row.totp_last_step = utcnow(), step
        await row.save(update_fields=["totp_secret", "totp_pending", "totp_enabled_at",
                                      "totp_last_step"])
        codes = await _new_codes(row)
        await audit.record(by, "staff.two_factor_on", "staff", row.id,
                           before={"email": row.email, "two_factor": False},
                           after={"email": row.email, "two_factor": True})
    return codes


async def check(row: Staff, code: str, sealer: Sealer) -> Factor | None:
    """Whether ``code`` is a current TOTP code of the account not used before, or one of its
    unused recovery codes (then used up). Counts nothing: the caller counts a failure."""
    if row.totp_secret is None:
        return None
    text = _normalise(code)
    if _DIGITS.fullmatch(text):
        secret = sealer.open(row.totp_secret, row.id)
        step = _step_of(secret, text, utcnow()) if secret else None
        return "totp" if step is not None and await _use_step(row, step) else None
    if _RECOVERY.fullmatch(text):
        used = await RecoveryCode.filter(
            staff_id=row.id, code_hash=sha256_hex(text.encode()), used_at=None
        ).update(used_at=utcnow())
        return "recovery" if used else None
    return None


def proof_of(row: Staff) -> str:
    """What the browser carries between the password and the code: it names the account's
    current password hash, so a password change voids a second step begun before it."""
    return sha256_hex(b"second-step", row.password_hash.encode())[:32]


async def pending_account(staff_id: int, proof: str) -> Staff | None:
    """The account a second step (``proof_of``) is for, while it is active and has two-factor
    sign-in on; None else."""
    row = await Staff.get_or_none(id=staff_id, active=True)
    if row is None or row.totp_secret is None:
        return None
    return row if hmac.compare_digest(proof_of(row), proof) else None


async def _prove(row: Staff, code: str, sealer: Sealer, *, field: str = "code") -> Factor:
    factor = await check(row, code, sealer)
    if factor is None:
        await count_failure(row, step="code")
        raise InvalidRequest(WRONG_CODE, field=field)
    return factor


async def turn_off(staff_id: int, password: str, code: str, sealer: Sealer, *,
                   by: Actor) -> None:
    """One's own two-factor sign-in off, given the password and a code (or a recovery code);
    a wrong one counts towards the sign-in lock."""
    row = await get_account(staff_id)
    if row.totp_secret is None:
        raise Conflict("Two-factor sign-in is not on for this account.")
    if not await verify_password(row, password):
        await count_failure(row)
        raise InvalidRequest("The password is wrong.", field="password")
    await _prove(row, code, sealer)
    async with in_transaction():
        await _clear(await get_account(staff_id, lock=True))
        await audit.record(by, "staff.two_factor_off", "staff", row.id,
                           before={"email": row.email, "two_factor": True},
                           after={"email": row.email, "two_factor": False})


async def new_recovery_codes(staff_id: int, code: str, sealer: Sealer, *,
                             by: Actor) -> list[str]:
    """New recovery codes for one's own account, given a code; the old ones stop working."""
    row = await get_account(staff_id)
    if row.totp_secret is None:
        raise Conflict("Two-factor sign-in is not on for this account.")
    await _prove(row, code, sealer)
    async with in_transaction():
        codes = await _new_codes(await get_account(staff_id, lock=True))
        await audit.record(by, "staff.recovery_codes", "staff", row.id,
                           after={"email": row.email, "codes": RECOVERY_CODES})
    return codes


async def _clear(row: Staff) -> None:
    row.totp_secret = row.totp_pending = row.totp_enabled_at = row.totp_last_step = None
    await row.save(update_fields=["totp_secret", "totp_pending", "totp_enabled_at",
                                  "totp_last_step"])
    await RecoveryCode.filter(staff_id=row.id).delete()


async def reset(staff_id: int, *, by: Actor | None, version: int | None = None) -> None:
    """An owner turns another account's two-factor sign-in off (its phone is lost): it signs
    in with its password alone until it enrols again. Refused (``StaleEdit``) when the
    account changed since ``version`` (``revisions.staff``), when given."""
    async with in_transaction():
        row = await get_account(staff_id, lock=True)
        await revisions.check(revisions.staff(row.id), version)
        if by is not None and by.id == row.id:
            raise InvalidRequest("Turn your own two-factor sign-in off on your account page.")
        if row.totp_secret is None and row.totp_pending is None:
            return
        was_on = row.totp_secret is not None
        await _clear(row)
        await audit.record(by, "staff.two_factor_reset", "staff", row.id,
                           before={"email": row.email, "two_factor": was_on},
                           after={"email": row.email, "two_factor": False})
