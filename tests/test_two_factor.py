"""Two-factor sign-in's service (``services/two_factor.py``), on SQLite and PostgreSQL: the
sealed secret, enrolment confirmed by a code, a code refused the second time, recovery codes
good once, turning off, an owner's reset, and the audit of each."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pyotp
import pytest
from starlette.applications import Starlette

from cmp_server.errors import Conflict, InvalidRequest
from cmp_server.models import AuditEntry, RecoveryCode, Staff
from cmp_server.services import staff, two_factor

from ._server import cli_env, run_cli
from .factories import PASSWORD, staff_member

SEALER = two_factor.Sealer("test-secret-key-not-for-production")


def actor(row: Staff) -> staff.Actor:
    return staff.Actor(row.id, row.email, row.name, row.role, "s", "t")


def code(secret: str, ahead: int = 0) -> str:
    """The code of the current time step, or of ``ahead`` steps later."""
    return pyotp.TOTP(secret).at(time.time() + 30 * ahead)


async def enrolled(role: str = "owner") -> tuple[Staff, str, list[str]]:
    row, secret, codes, _ = await enrolled_with(role)
    return row, secret, codes


async def enrolled_with(role: str = "owner") -> tuple[Staff, str, list[str], str]:
    """An account with two-factor sign-in on, its secret, recovery codes and the code that
    confirmed it."""
    row = await staff_member(role)
    enrolment = await two_factor.begin(row.id, SEALER)
    confirming = code(enrolment.secret)
    codes = await two_factor.confirm(row.id, confirming, SEALER, by=actor(row))
    return await Staff.get(id=row.id), enrolment.secret, codes, confirming


def test_a_sealed_secret_opens_only_with_its_key_and_its_account() -> None:
    sealed = SEALER.seal("JBSWY3DPEHPK3PXP", 7)
    assert "JBSWY3DPEHPK3PXP" not in sealed
    assert SEALER.open(sealed, 7) == "JBSWY3DPEHPK3PXP"
    assert SEALER.open(sealed, 8) is None  # moved to another account's row
    assert two_factor.Sealer("another server secret").open(sealed, 7) is None
    assert SEALER.open(sealed[:-4] + "AAAA", 7) is None
    assert SEALER.open("v1.!!!", 7) is None and SEALER.open("plain", 7) is None
    assert SEALER.seal("x", 7) != SEALER.seal("x", 7)  # a fresh nonce each time


async def test_enrolment_is_on_only_once_a_code_confirms_it(app: Starlette) -> None:
    row = await staff_member("privacy")
    first = await two_factor.begin(row.id, SEALER)
    assert (await two_factor.begin(row.id, SEALER)).secret == first.secret  # a reload
    assert first.uri.startswith("otpauth://totp/") and "secret=" + first.secret in first.uri
    stored = await Staff.get(id=row.id)
    assert stored.totp_secret is None and stored.totp_pending
    assert first.secret not in stored.totp_pending  # sealed, not the secret itself
    with pytest.raises(InvalidRequest) as wrong:
        await two_factor.confirm(row.id, "000000" if code(first.secret) != "000000"
                                 else "111111", SEALER, by=actor(row))
    assert wrong.value.field == "code"
    assert not (await two_factor.status(row.id)).enabled
    codes = await two_factor.confirm(row.id, code(first.secret), SEALER, by=actor(row))
    assert len(codes) == two_factor.RECOVERY_CODES == len(set(codes))
    status = await two_factor.status(row.id)
    assert status.enabled and status.recovery_left == two_factor.RECOVERY_CODES
    stored = await Staff.get(id=row.id)
    assert stored.totp_pending is None and SEALER.open(stored.totp_secret or "", row.id) \
        == first.secret
    hashes = {r.code_hash for r in await RecoveryCode.filter(staff_id=row.id)}
    assert not any(c.replace("-", "") in h or c in h for c in codes for h in hashes)
    entry = await AuditEntry.get(action="staff.two_factor_on")
    assert entry.after == {"email": row.email, "two_factor": True}
    assert first.secret not in str(entry.before) + str(entry.after)
    with pytest.raises(Conflict):
        await two_factor.begin(row.id, SEALER)  # on: the secret is never shown again


async def test_a_code_counts_once(app: Starlette) -> None:
    row, secret, _, confirming = await enrolled_with()
    # The confirming code's step is used: the same code, or an older one, is refused.
    assert await two_factor.check(row, confirming, SEALER) is None
    assert await two_factor.check(row, code(secret, -1), SEALER) is None
    later = code(secret, 1)
    assert await two_factor.check(row, later, SEALER) == "totp"
    assert await two_factor.check(row, later, SEALER) is None  # replayed within its window
    assert await two_factor.check(row, code(secret, 3), SEALER) is None  # beyond the window
    assert await two_factor.check(row, "12345", SEALER) is None
    assert await two_factor.check(row, "not a code at all", SEALER) is None


async def test_a_recovery_code_works_once_in_any_spelling(app: Starlette) -> None:
    row, _, codes = await enrolled()
    assert await two_factor.check(row, codes[0].upper().replace("-", " "), SEALER) == "recovery"
    assert await two_factor.check(row, codes[0], SEALER) is None
    assert await two_factor.check(row, codes[1], SEALER) == "recovery"
    assert (await two_factor.status(row.id)).recovery_left == two_factor.RECOVERY_CODES - 2
    other, _, other_codes = await enrolled()
    assert await two_factor.check(row, other_codes[0], SEALER) is None  # not this account's


async def test_new_recovery_codes_void_the_old_ones(app: Starlette) -> None:
    row, secret, old = await enrolled()
    new = await two_factor.new_recovery_codes(row.id, code(secret, 1), SEALER, by=actor(row))
    assert not set(new) & set(old)
    assert await two_factor.check(row, old[0], SEALER) is None
    assert await two_factor.check(row, new[0], SEALER) == "recovery"
    assert await AuditEntry.exists(action="staff.recovery_codes", object_id=str(row.id))


async def test_turning_off_asks_the_password_and_a_code(app: Starlette) -> None:
    row, secret, codes = await enrolled("viewer")
    with pytest.raises(InvalidRequest) as wrong_password:
        await two_factor.turn_off(row.id, "not the password", code(secret, 1), SEALER,
                                  by=actor(row))
    assert wrong_password.value.field == "password"
    with pytest.raises(InvalidRequest) as wrong_code:
        await two_factor.turn_off(row.id, PASSWORD, "000000", SEALER, by=actor(row))
    assert wrong_code.value.field == "code"
    after = await Staff.get(id=row.id)
    assert after.totp_secret is not None and after.failed_logins == 2  # both counted
    failures = await AuditEntry.filter(action="staff.sign_in_failed").order_by("id")
    assert [f.after for f in failures] == [{"failures": 1}, {"failures": 2, "step": "code"}]
    await two_factor.turn_off(row.id, PASSWORD, codes[0], SEALER, by=actor(row))
    after = await Staff.get(id=row.id)
    assert after.totp_secret is None and after.totp_last_step is None
    assert not await RecoveryCode.exists(staff_id=row.id)
    entry = await AuditEntry.get(action="staff.two_factor_off")
    assert entry.before == {"email": row.email, "two_factor": True}


async def test_an_owner_resets_another_accounts_two_factor(app: Starlette) -> None:
    owner = await staff_member("owner")
    row, _, codes = await enrolled("privacy")
    with pytest.raises(InvalidRequest):
        await two_factor.reset(row.id, by=actor(row))  # not one's own: the page for that
    await two_factor.reset(row.id, by=actor(owner))
    assert not (await two_factor.status(row.id)).enabled
    assert await two_factor.check(await Staff.get(id=row.id), codes[0], SEALER) is None
    entry = await AuditEntry.get(action="staff.two_factor_reset")
    assert entry.actor == owner.email and entry.after == {"email": row.email,
                                                          "two_factor": False}
    await two_factor.reset(row.id, by=actor(owner))  # nothing to reset: no second entry
    assert await AuditEntry.filter(action="staff.two_factor_reset").count() == 1


async def test_a_second_step_is_void_once_the_password_changes(app: Starlette) -> None:
    row, _, _ = await enrolled()
    proof = two_factor.proof_of(row)
    assert (await two_factor.pending_account(row.id, proof)) is not None
    assert await two_factor.pending_account(row.id, "x" * 32) is None
    await staff.change_password(row.id, "a brand new password", current=PASSWORD,
                                by=actor(row))
    assert await two_factor.pending_account(row.id, proof) is None


async def test_the_operator_resets_it_from_the_command_line(
    app: Starlette, database_url: str, tmp_path: Path
) -> None:
    """The way out when the only owner lost both the phone and the recovery codes."""
    row, _, _ = await enrolled()
    env = cli_env(database_url, tmp_path)
    done = await asyncio.to_thread(run_cli, ["reset-two-factor", "--email",
                                             f" {row.email.upper()} "], env)
    assert done.returncode == 0, done.stderr
    assert f"{row.email} signs in with the password alone" in done.stdout
    assert not (await two_factor.status(row.id)).enabled
    entry = await AuditEntry.get(action="staff.two_factor_reset")
    assert entry.actor == "system" and entry.object_id == str(row.id)
    missing = await asyncio.to_thread(run_cli, ["reset-two-factor", "--email",
                                                "nobody@example.org"], env)
    assert missing.returncode == 1 and "no staff account for nobody@example.org" in \
        missing.stderr
