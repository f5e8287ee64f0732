"""Signing in and out, sessions, rate limits, passwords (``admin/accounts.py``,
``admin/authentication.py``, ``cmp_server/services/staff.py``)."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import httpx
import pytest
from argon2 import PasswordHasher
from itsdangerous import URLSafeSerializer
from starlette.applications import Starlette

from cmp_server.app import create_app
from cmp_server.models import AuditEntry, Staff, StaffSession
from cmp_server.services import staff
from cmp_server.settings import Settings

from ..factories import PASSWORD, staff_member
from ._client import csrf_token, sign_in, token_of


async def test_sign_in_then_the_dashboard(app: Starlette, client: httpx.AsyncClient) -> None:
    owner = await staff_member("owner")
    first = await client.get("/admin/")
    assert first.status_code == 303
    assert first.headers["location"] == "/admin/login?next=%2Fadmin%2F"
    signed = await sign_in(client, owner.email.upper())  # email case does not matter
    assert signed.status_code == 303 and signed.headers["location"] == "/admin/"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie  # the public base URL is http here
    page = await client.get("/admin/")
    assert page.status_code == 200 and owner.email in page.text
    # The cookie holds the session id, signed: not the account, not the role.
    session = await StaffSession.get(staff_id=owner.id)
    secret = app.state.settings.secret_key.get_secret_value()
    signed_id = client.cookies["cmp_admin"]
    assert URLSafeSerializer(secret, salt="cmp-admin-session").loads(signed_id) == session.id
    # Altered by one character, it is no session (the first: every bit of it counts, where
    # the last base64 character of a signature may carry only padding).
    client.cookies.set("cmp_admin", ("A" if signed_id[0] != "A" else "B") + signed_id[1:],
                       path="/admin")
    assert (await client.get("/admin/")).status_code == 303


async def test_a_wrong_password_and_an_unknown_email_read_the_same(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    owner = await staff_member("owner")
    wrong = await sign_in(client, owner.email, "not the password at all")
    unknown = await sign_in(client, "nobody@example.org")
    assert wrong.status_code == unknown.status_code == 401
    assert "The email or the password is wrong." in wrong.text
    assert wrong.text.replace(owner.email, "X") == unknown.text.replace("nobody@example.org", "X")
    assert await StaffSession.filter(staff_id=owner.id).count() == 0


async def test_sign_in_is_rate_limited_per_account_without_telling_if_it_exists(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    owner = await staff_member("owner")
    for _ in range(5):
        assert (await sign_in(client, owner.email, "guess-guess-guess")).status_code == 401
    limited = await sign_in(client, owner.email)  # even the right password, for now
    assert limited.status_code == 429 and "Too many failed sign-ins" in limited.text
    for _ in range(5):
        await sign_in(client, "ghost@example.org", "guess-guess-guess")
    ghost = await sign_in(client, "ghost@example.org")
    assert ghost.status_code == 429 and ghost.text.replace("ghost@example.org", owner.email) \
        == limited.text
    # Another account from another address is not held up by them; nor is the account
    # itself, from an address with no failures: guesses must not lock its owner out.
    other = await staff_member("viewer")
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as second:
        assert (await sign_in(second, other.email)).status_code == 303
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as own:
        assert (await sign_in(own, owner.email)).status_code == 303


async def test_sign_in_is_rate_limited_per_address(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    accounts = [await staff_member("viewer") for _ in range(5)]
    for account in accounts:
        for _ in range(4):
            await sign_in(client, account.email, "guess-guess-guess")
    fresh = await staff_member("viewer")
    assert (await sign_in(client, fresh.email)).status_code == 429


async def test_behind_a_trusted_proxy_the_limit_is_the_clients_not_the_proxys(
    app: Starlette, settings: Settings
) -> None:
    """Behind a load balancer every client shares the proxy's address: twenty failures from
    anywhere used to lock every staff member out for fifteen minutes, renewable."""
    proxied = create_app(settings.model_copy(update={
        "trusted_proxies": (ipaddress.ip_network("203.0.113.0/24"),)}))
    accounts = [await staff_member("viewer") for _ in range(5)]
    fresh = await staff_member("viewer")
    transport = httpx.ASGITransport(app=proxied, client=("203.0.113.77", 50000))
    async with proxied.router.lifespan_context(proxied), httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as client:
        client.headers["X-Forwarded-For"] = "198.51.100.66"  # the attacker, by the proxy
        for account in accounts:
            for _ in range(4):
                await sign_in(client, account.email, "guess-guess-guess")
        assert (await sign_in(client, fresh.email)).status_code == 429
        client.cookies.clear()
        client.headers["X-Forwarded-For"] = "192.0.2.10"  # a member of staff, elsewhere
        assert (await sign_in(client, fresh.email)).status_code == 303


async def test_the_sign_in_form_needs_its_token(app: Starlette, client: httpx.AsyncClient) -> None:
    owner = await staff_member("owner")
    forged = await client.post("/admin/login", data={"email": owner.email, "password": PASSWORD})
    assert forged.status_code == 403
    await client.get("/admin/login")
    wrong = await client.post("/admin/login", data={
        "csrf_token": "made-up", "email": owner.email, "password": PASSWORD,
    })
    assert wrong.status_code == 403
    assert await StaffSession.filter(staff_id=owner.id).count() == 0


async def test_next_never_leaves_the_admin(app: Starlette, client: httpx.AsyncClient) -> None:
    owner = await staff_member("owner")
    for target in ("https://evil.example/", "//evil.example/admin", "/demo/", "/admin\\@x"):
        form = await client.get("/admin/login")
        signed = await client.post("/admin/login", data={
            "csrf_token": csrf_token(form.text), "email": owner.email, "password": PASSWORD,
            "next": target,
        })
        assert signed.headers["location"] == "/admin/", target
        client.cookies.clear()
    form = await client.get("/admin/login")
    signed = await client.post("/admin/login", data={
        "csrf_token": csrf_token(form.text), "email": owner.email, "password": PASSWORD,
        "next": "/admin/audit?site=1",
    })
    assert signed.headers["location"] == "/admin/audit?site=1"


async def test_sign_out_ends_the_session_on_the_server(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    owner = await staff_member("owner")
    await sign_in(client, owner.email)
    kept = client.cookies["cmp_admin"]
    out = await client.post("/admin/logout", data={"csrf_token": await token_of(client)})
    assert out.status_code == 303
    assert await StaffSession.filter(staff_id=owner.id).count() == 0
    # The old cookie, replayed, is no session any more.
    client.cookies.set("cmp_admin", kept, path="/admin")
    assert (await client.get("/admin/")).status_code == 303


async def test_a_password_change_ends_every_session(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    owner = await staff_member("privacy")
    await sign_in(client, owner.email)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        await sign_in(other, owner.email)
        assert (await other.get("/admin/")).status_code == 200
        short = await client.post("/admin/account", data={
            "csrf_token": await token_of(client), "current": PASSWORD, "password": "short",
        })
        # In plain words, not pydantic's ("String should have at least 12 characters").
        assert short.status_code == 422
        assert '<p class="field-error" id="e-password">Use at least 12 characters.</p>' in (
            short.text)
        assert "should have" not in short.text
        # A session left open is not the account: the password in use is asked for.
        for current in ("", "not the password at all"):
            taken = await client.post("/admin/account", data={
                "csrf_token": await token_of(client), "current": current,
                "password": "a thief's new passphrase",
            })
            assert taken.status_code == 422 and 'id="e-current"' in taken.text
        assert (await other.get("/admin/")).status_code == 200  # nothing changed
        changed = await client.post("/admin/account", data={
            "csrf_token": await token_of(client), "current": PASSWORD,
            "password": "a whole new passphrase",
        })
        assert changed.status_code == 303
        assert (await other.get("/admin/")).status_code == 303
    assert (await client.get("/admin/")).status_code == 303
    assert (await sign_in(client, owner.email)).status_code == 401
    assert (await sign_in(client, owner.email, "a whole new passphrase")).status_code == 303
    entry = await AuditEntry.get(action="staff.password")
    assert entry.actor == owner.email and entry.object_id == str(owner.id)


async def test_an_idle_session_expires(app: Starlette, client: httpx.AsyncClient) -> None:
    owner = await staff_member("owner")
    await sign_in(client, owner.email)
    session = await StaffSession.get(staff_id=owner.id)
    idle = timedelta(minutes=app.state.settings.admin_session_idle_minutes)
    await StaffSession.filter(id=session.id).update(
        last_seen_at=session.last_seen_at - idle - timedelta(seconds=1)
    )
    assert (await client.get("/admin/")).status_code == 303
    assert not await StaffSession.exists(id=session.id)


async def test_passwords_are_argon2id_and_rehashed_when_parameters_change(
    app: Starlette,
) -> None:
    owner = await staff_member("owner")
    assert owner.password_hash.startswith("$argon2id$")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    await Staff.filter(id=owner.id).update(password_hash=weak)
    assert (await staff.authenticate(owner.email, PASSWORD)).outcome == "signed_in"
    rehashed = (await Staff.get(id=owner.id)).password_hash
    assert rehashed != weak and rehashed.startswith("$argon2id$")
    assert "m=8192" not in rehashed


@pytest.mark.parametrize("email", ["", "no-at-sign", "a@b", "x" * 300 + "@example.org",
                                   "nul\x00@example.org"])
async def test_bad_emails_are_refused(app: Starlette, email: str) -> None:
    from cmp_server.errors import InvalidRequest

    with pytest.raises(InvalidRequest):
        await staff.create_staff(email, PASSWORD, "viewer")
