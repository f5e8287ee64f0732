"""Owners manage staff accounts (``admin/staff.py``, ``services/staff_lifecycle.py``,
``services/password_reset.py``): roles, disabling, removing, unlocking, reset links, and the
guards that keep an owner in charge."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from starlette.applications import Starlette

from cmp_server.errors import Conflict, InvalidRequest, NotFound
from cmp_server.models import AuditEntry, PasswordReset, Staff, StaffSession
from cmp_server.services import password_reset, staff, staff_lifecycle

from ..factories import PASSWORD, staff_member
from ._client import csrf_token, sign_in, token_of

LINK = re.compile(r'id="reset-link">([^<]+)<')


def as_actor(row: Staff) -> staff.Actor:
    return staff.Actor(row.id, row.email, row.name, row.role, "s", "t")


async def post(client: httpx.AsyncClient, path: str, **data: str) -> httpx.Response:
    return await client.post(path, data={"csrf_token": await token_of(client), **data})


async def test_an_owner_changes_a_role_and_it_is_audited(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    owner, officer = await staff_member("owner"), await staff_member("privacy")
    await sign_in(client, owner.email)
    page = await client.get(f"/admin/staff/{officer.id}")
    assert page.status_code == 200 and officer.email in page.text
    changed = await post(client, f"/admin/staff/{officer.id}/role", role="viewer")
    assert changed.status_code == 303
    assert changed.headers["location"] == f"/admin/staff/{officer.id}?did=role"
    assert (await Staff.get(id=officer.id)).role == "viewer"
    entry = await AuditEntry.get(action="staff.role")
    assert entry.before == {"email": officer.email, "role": "privacy"}
    assert entry.after == {"email": officer.email, "role": "viewer"}
    bad = await post(client, f"/admin/staff/{officer.id}/role", role="god")
    assert bad.status_code == 422 and "Choose owner, privacy or viewer." in bad.text


async def test_only_owners_manage_staff(app: Starlette, client: httpx.AsyncClient) -> None:
    officer, other = await staff_member("privacy"), await staff_member("viewer")
    await sign_in(client, officer.email)
    assert (await client.get(f"/admin/staff/{other.id}")).status_code == 403
    denied = await post(client, f"/admin/staff/{other.id}/active", active="no")
    assert denied.status_code == 403 and (await Staff.get(id=other.id)).active


async def test_disabling_ends_the_sessions_at_once_and_enabling_lets_it_back(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    owner, officer = await staff_member("owner"), await staff_member("privacy")
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        await sign_in(other, officer.email)
        assert (await other.get("/admin/")).status_code == 200
        await sign_in(client, owner.email)
        off = await post(client, f"/admin/staff/{officer.id}/active", active="no")
        assert off.status_code == 303 and off.headers["location"].endswith("?did=disabled")
        assert await StaffSession.filter(staff_id=officer.id).count() == 0
        assert (await other.get("/admin/")).status_code == 303  # signed out at its next request
        assert (await sign_in(other, officer.email)).status_code == 401
        on = await post(client, f"/admin/staff/{officer.id}/active", active="yes")
        assert on.status_code == 303
        assert (await sign_in(other, officer.email)).status_code == 303
    actions = [e.action for e in await AuditEntry.filter(object_id=str(officer.id))
               .order_by("id")]
    assert "staff.disable" in actions and "staff.enable" in actions


async def test_an_owner_cannot_lock_themselves_out(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    owner = await staff_member("owner")
    await sign_in(client, owner.email)
    page = await client.get(f"/admin/staff/{owner.id}")
    assert "This is your own account" in page.text and "/remove" not in page.text
    for path, data in (("active", {"active": "no"}), ("role", {"role": "viewer"}),
                       ("remove", {"confirm": "yes"})):
        r = await post(client, f"/admin/staff/{owner.id}/{path}", **data)
        assert r.status_code == 422 and "your own account" in r.text, path
    fresh = await Staff.get(id=owner.id)
    assert fresh.active and fresh.role == "owner"


async def test_the_last_active_owner_stays(app: Starlette) -> None:
    first, second = await staff_member("owner"), await staff_member("owner")
    await staff_lifecycle.set_active(second.id, False, by=as_actor(first))
    # The command line (no actor) cannot take the last one either.
    for change in (staff_lifecycle.set_active(first.id, False, by=None),
                   staff_lifecycle.set_role(first.id, "viewer", by=None),
                   staff_lifecycle.remove(first.id, by=None)):
        with pytest.raises(Conflict, match="last active owner"):
            await change
    # A disabled owner acts on nobody: its actor is no active owner any more.
    await staff_lifecycle.set_active(second.id, True, by=as_actor(first))
    await staff_lifecycle.set_role(second.id, "viewer", by=as_actor(first))
    with pytest.raises(Conflict):
        await staff_lifecycle.set_role(first.id, "viewer", by=as_actor(second))


async def test_removing_keeps_the_name_in_the_audit_log(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    owner, officer = await staff_member("owner"), await staff_member("privacy")
    await staff.change_password(officer.id, "another long passphrase", current=PASSWORD,
                                by=as_actor(officer))
    await sign_in(client, owner.email)
    unconfirmed = await post(client, f"/admin/staff/{officer.id}/remove")
    assert unconfirmed.status_code == 422 and "Tick the box" in unconfirmed.text
    removed = await post(client, f"/admin/staff/{officer.id}/remove", confirm="yes")
    assert removed.status_code == 303 and removed.headers["location"] == "/admin/staff?removed=1"
    assert not await Staff.exists(id=officer.id)
    own = await AuditEntry.get(action="staff.password")
    assert own.actor == officer.email and own.staff_id is None  # kept as written
    gone = await AuditEntry.get(action="staff.remove")
    assert gone.before == {"email": officer.email, "name": officer.name, "role": "privacy",
                           "active": True}
    assert (await client.get(f"/admin/staff/{officer.id}")).status_code == 404


async def test_a_lockout_is_audited_and_an_owner_unlocks_it(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    owner, officer = await staff_member("owner"), await staff_member("privacy")
    # A campaign from many addresses (one address alone is held back long before: the
    # limiter's per-address-and-account count).
    for _ in range(staff.LOCK_AFTER):
        assert (await staff.authenticate(officer.email, "guess-guess-guess")).outcome == "wrong"
    locked = await sign_in(client, officer.email)
    assert locked.status_code == 429 and "ask an owner to unlock" in locked.text
    assert [e.action for e in await AuditEntry.filter(staff_id=officer.id).order_by("id")] \
        == ["staff.sign_in_failed"] * staff.LOCK_AFTER + ["staff.lockout"]
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as o:
        await sign_in(o, owner.email)
        listed = await o.get("/admin/staff")
        assert "locked" in listed.text
        r = await o.post(f"/admin/staff/{officer.id}/unlock",
                         data={"csrf_token": await token_of(o)})
        assert r.status_code == 303 and r.headers["location"].endswith("?did=unlocked")
    entry = await AuditEntry.get(action="staff.unlock")
    assert entry.actor == owner.email and entry.after is not None
    assert entry.before is not None and entry.before["failures"] == staff.LOCK_AFTER
    assert (await sign_in(client, officer.email)).status_code == 303
    assert await AuditEntry.exists(action="staff.sign_in", staff_id=officer.id)


async def test_the_lock_lapses_after_its_time(app: Starlette) -> None:
    officer = await staff_member("privacy")
    for _ in range(staff.LOCK_AFTER):
        assert (await staff.authenticate(officer.email, "wrong-wrong-wrong")).outcome == "wrong"
    assert (await staff.authenticate(officer.email, PASSWORD)).outcome == "locked"
    row = await Staff.get(id=officer.id)
    assert row.locked_until is not None
    await Staff.filter(id=officer.id).update(locked_until=row.locked_until - staff.LOCK_FOR)
    assert (await staff.authenticate(officer.email, PASSWORD)).outcome == "signed_in"
    assert (await Staff.get(id=officer.id)).failed_logins == 0


async def test_a_reset_link_works_once(app: Starlette, client: httpx.AsyncClient) -> None:
    owner, officer = await staff_member("owner"), await staff_member("privacy")
    await sign_in(client, owner.email)
    issued = await post(client, f"/admin/staff/{officer.id}/reset")
    assert issued.status_code == 200 and "shown only now" in issued.text
    found = LINK.search(issued.text)
    assert found
    url = found.group(1)
    assert url.startswith(app.state.settings.public_base_url.rstrip("/") + "/admin/reset/")
    path = "/admin/reset/" + url.rsplit("/", 1)[1]
    token = path.rsplit("/", 1)[1]
    row = await PasswordReset.get(staff_id=officer.id)
    assert row.token_hash != token and token not in row.token_hash
    assert abs(row.expires_at - row.created_at - password_reset.VALID) < timedelta(minutes=1)
    # The page shows the link once: reloaded, it is not there.
    assert url not in (await client.get(f"/admin/staff/{officer.id}")).text
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as user:
        await sign_in(user, officer.email)
        form = await user.get(path)
        assert form.status_code == 200 and officer.email in form.text
        forged = await user.post(path, data={"password": "a fresh passphrase here"})
        assert forged.status_code == 403 and "expired" in forged.text
        short = await user.post(path, data={"csrf_token": csrf_token(form.text),
                                            "password": "short"})
        assert short.status_code == 422 and "at least 12 characters" in short.text
        done = await user.post(path, data={"csrf_token": csrf_token(form.text),
                                           "password": "a fresh passphrase here"})
        assert done.status_code == 303 and done.headers["location"] == "/admin/login?reset=1"
        assert (await user.get("/admin/")).status_code == 303  # its sessions ended
        again = await user.get(path)
        assert again.status_code == 404 and "not valid" in again.text
        assert (await sign_in(user, officer.email, "a fresh passphrase here")).status_code == 303
    actions = {e.action for e in await AuditEntry.filter(object_id=str(officer.id))}
    assert {"staff.reset_issued", "staff.password_reset"} <= actions


async def test_a_reset_link_expires_and_a_new_one_voids_the_old(app: Starlette) -> None:
    owner, officer = await staff_member("owner"), await staff_member("viewer")

    def link(token: str) -> str:
        return token

    first = await password_reset.issue(officer.id, by=as_actor(owner), link=link)
    second = await password_reset.issue(officer.id, by=as_actor(owner), link=link)
    with pytest.raises(NotFound):
        await password_reset.valid_for(first.url)
    assert await password_reset.valid_for(second.url) == officer.email
    await PasswordReset.filter(staff_id=officer.id).update(
        expires_at=second.expires_at - password_reset.VALID - timedelta(seconds=1))
    with pytest.raises(NotFound):
        await password_reset.redeem(second.url, "a fresh passphrase here")
    third = await password_reset.issue(officer.id, by=as_actor(owner), link=link)
    await staff_lifecycle.set_active(officer.id, False, by=as_actor(owner))
    with pytest.raises(NotFound):
        await password_reset.valid_for(third.url)
    with pytest.raises(InvalidRequest):
        await password_reset.issue(officer.id, by=as_actor(owner), link=link)
    for odd in ("", "x" * 43, "\x00" * 43, "../" * 20):
        with pytest.raises(NotFound):
            await password_reset.valid_for(odd)


async def test_a_mailer_gets_the_link(app: Starlette) -> None:
    owner, officer = await staff_member("owner"), await staff_member("viewer")
    sent: list[tuple[str, str]] = []

    class Outbox:
        async def send(self, to: str, subject: str, text: str) -> None:
            sent.append((to, text))

    issued = await password_reset.issue(officer.id, by=as_actor(owner), link=lambda t: t,
                                        mailer=Outbox())
    assert issued.mailed and sent == [(officer.email, sent[0][1])] and issued.url in sent[0][1]
