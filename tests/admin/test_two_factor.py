"""Two-factor sign-in in the admin (``admin/two_factor.py``): the enrolment page and its QR code,
the second step of signing in (limited and counted like the password), a code refused the
second time, recovery codes, turning off, an owner's reset, and the installation's rule that
owners must use it."""

from __future__ import annotations

import re
import time

import httpx
import pyotp
import segno
from starlette.applications import Starlette

from cmp_server.models import AuditEntry, Staff
from cmp_server.services import installation

from ..factories import PASSWORD, staff_member
from ._client import csrf_token, sign_in, token_of

SECRET = re.compile(r'id="secret">([A-Z2-7]{32})<')
CODES = re.compile(r"<li><code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code></li>")
PAGE = "/admin/account/two-factor"


def code(secret: str, ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * ahead)


async def enrol(client: httpx.AsyncClient) -> tuple[str, list[str]]:
    """Through the page, as staff do: read the key, confirm with a code; the secret and the
    recovery codes the answer showed."""
    page = await client.get(PAGE)
    assert page.status_code == 200, page.text
    secret = SECRET.search(page.text)
    assert secret, "the enrolment page shows no key"
    done = await client.post(PAGE, data={"csrf_token": csrf_token(page.text),
                                         "code": code(secret.group(1))})
    assert done.status_code == 200, done.text
    codes = CODES.findall(done.text)
    assert len(codes) == 10
    return secret.group(1), codes


async def sign_out(client: httpx.AsyncClient) -> None:
    await client.post("/admin/logout", data={"csrf_token": await token_of(client)})
    assert (await client.get("/admin/")).status_code == 303


async def second_step(client: httpx.AsyncClient, value: str) -> httpx.Response:
    form = await client.get("/admin/login/code")
    assert form.status_code == 200, form.status_code
    return await client.post("/admin/login/code", data={
        "csrf_token": csrf_token(form.text), "code": value, "next": "/admin/staff"})


async def test_the_enrolment_page_draws_its_qr_code_itself_and_asks_a_code(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    member = await staff_member("viewer")
    await sign_in(client, member.email)
    page = await client.get(PAGE)
    assert page.status_code == 200
    qr = re.search(r'<img class="qr" id="qr" src="([^"]+)"', page.text)
    assert qr and qr.group(1).startswith("data:image/svg+xml")  # no request anywhere
    assert "img-src 'self' data:" in page.headers["content-security-policy"]
    secret = SECRET.search(page.text)
    assert secret
    # The QR code says the key the page shows, as the otpauth:// URI apps read.
    uri = pyotp.TOTP(secret.group(1)).provisioning_uri(name=member.email,
                                                       issuer_name="Consent admin")
    assert qr.group(1) == segno.make(uri, error="m").svg_data_uri(
        scale=5, border=4, dark="#111", light="#fff")
    wrong = await client.post(PAGE, data={"csrf_token": csrf_token(page.text),
                                          "code": "12345x"})
    assert wrong.status_code == 422 and 'aria-invalid="true"' in wrong.text
    assert (await Staff.get(id=member.id)).totp_secret is None
    done = await client.post(PAGE, data={"csrf_token": csrf_token(page.text),
                                         "code": code(secret.group(1))})
    assert done.status_code == 200 and len(CODES.findall(done.text)) == 10
    again = await client.get(PAGE)
    assert "Two-factor sign-in is on" in again.text
    assert secret.group(1) not in again.text and not CODES.search(again.text)  # never again
    assert 'data:image' not in again.text
    assert await AuditEntry.exists(action="staff.two_factor_on", staff_id=member.id)


async def test_signing_in_takes_the_password_then_a_code_that_counts_once(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    member = await staff_member("owner")
    await sign_in(client, member.email)
    secret, codes = await enrol(client)
    await sign_out(client)

    first = await sign_in(client, member.email)
    assert first.status_code == 303 and first.headers["location"].startswith(
        "/admin/login/code?next=")
    assert "cmp_admin=" not in first.headers.get("set-cookie", "")  # no session yet
    assert (await client.get("/admin/")).status_code == 303  # still signed out

    wrong = await second_step(client, "000000" if code(secret, 1) != "000000" else "111111")
    assert wrong.status_code == 401 and "wrong or was already used" in wrong.text
    failure = await AuditEntry.filter(action="staff.sign_in_failed").order_by("-id").first()
    assert failure and failure.after == {"failures": 1, "step": "code"}

    good = code(secret, 1)
    right = await second_step(client, good)
    assert right.status_code == 303 and right.headers["location"] == "/admin/staff"
    assert (await client.get("/admin/")).status_code == 200
    entry = await AuditEntry.filter(action="staff.sign_in").order_by("-id").first()
    assert entry and entry.after and entry.after["second_factor"] == "totp"
    assert (await Staff.get(id=member.id)).failed_logins == 0

    await sign_out(client)
    await sign_in(client, member.email)
    replay = await second_step(client, good)
    assert replay.status_code == 401  # the same code, within its window: refused
    recovered = await second_step(client, codes[0])
    assert recovered.status_code == 303
    entry = await AuditEntry.filter(action="staff.sign_in").order_by("-id").first()
    assert entry and entry.after and entry.after["second_factor"] == "recovery"
    await sign_out(client)
    await sign_in(client, member.email)
    assert (await second_step(client, codes[0])).status_code == 401  # used up


async def test_the_code_step_is_limited_like_the_password_step(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    member = await staff_member("privacy")
    await sign_in(client, member.email)
    secret, _ = await enrol(client)
    await sign_out(client)
    await sign_in(client, member.email)
    for _ in range(3):
        assert (await second_step(client, "000000")).status_code == 401
    # The right password again does not wipe the count of wrong codes on the row.
    await sign_in(client, member.email)
    for _ in range(2):
        assert (await second_step(client, "000000")).status_code == 401
    limited = await second_step(client, code(secret, 1))
    assert limited.status_code == 429 and "Too many failed sign-ins" in limited.text
    assert (await Staff.get(id=member.id)).failed_logins == 5  # counted on the row too


async def test_no_code_step_without_the_password_step(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/admin/login/code")).headers["location"] == "/admin/login"
    client.cookies.set("cmp_admin_2fa", "forged.value.here", path="/admin")
    posted = await client.post("/admin/login/code", data={"code": "123456"})
    assert posted.status_code == 303 and posted.headers["location"] == "/admin/login"
    # An account without two-factor sign-in goes straight in after its password.
    plain = await staff_member("viewer")
    answer = await sign_in(client, plain.email)
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/"


async def test_turning_it_off_asks_the_password_and_a_code(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    member = await staff_member("viewer")
    await sign_in(client, member.email)
    secret, _ = await enrol(client)
    token = await token_of(client, PAGE)
    refused = await client.post(f"{PAGE}/off", data={
        "csrf_token": token, "password": "wrong password!", "code": code(secret, 1)})
    assert refused.status_code == 422 and "The password is wrong." in refused.text
    done = await client.post(f"{PAGE}/off", data={
        "csrf_token": token, "password": PASSWORD, "code": code(secret, 1)})
    assert done.status_code == 303
    assert (await Staff.get(id=member.id)).totp_secret is None
    assert await AuditEntry.exists(action="staff.two_factor_off", staff_id=member.id)


async def test_an_owner_resets_a_lost_phone(app: Starlette, client: httpx.AsyncClient) -> None:
    member = await staff_member("privacy")
    await sign_in(client, member.email)
    await enrol(client)
    await sign_out(client)
    owner = await staff_member("owner")
    await sign_in(client, owner.email)
    page = await client.get(f"/admin/staff/{member.id}")
    assert "Reset two-factor sign-in" in page.text
    done = await client.post(f"/admin/staff/{member.id}/two-factor",
                             data={"csrf_token": csrf_token(page.text)})
    assert done.headers["location"] == f"/admin/staff/{member.id}?did=two_factor"
    entry = await AuditEntry.get(action="staff.two_factor_reset")
    assert entry.actor == owner.email and entry.object_id == str(member.id)
    await sign_out(client)
    assert (await sign_in(client, member.email)).headers["location"] == "/admin/"


async def test_owners_must_enrol_when_the_installation_requires_it(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    boss, owner = await staff_member("owner"), await staff_member("owner")
    officer = await staff_member("privacy")
    await sign_in(client, boss.email)
    await enrol(client)
    page = await client.get("/admin/staff")
    saved = await client.post("/admin/staff/policy", data={
        "csrf_token": csrf_token(page.text), "owner_two_factor": "yes"})
    assert saved.status_code == 303 and await installation.owner_two_factor()
    entry = await AuditEntry.get(action="installation.owner_two_factor")
    assert entry.before == {"required": False} and entry.after == {"required": True}
    bad = await client.post("/admin/staff/policy", data={
        "csrf_token": csrf_token(page.text), "owner_two_factor": "maybe"})
    assert bad.status_code == 422
    await sign_out(client)

    await sign_in(client, owner.email)
    for path in ("/admin/", "/admin/staff", "/admin/account", "/admin/audit",
                 "/admin/sites/new"):
        sent = await client.get(path)
        assert sent.status_code == 303 and sent.headers["location"] == PAGE, path
    sent = await client.post("/admin/staff/policy", data={"owner_two_factor": "no"})
    assert sent.status_code == 303 and sent.headers["location"] == PAGE
    assert await installation.owner_two_factor()
    page = await client.get(PAGE)
    assert page.status_code == 200 and "requires owners" in page.text
    await enrol(client)
    assert (await client.get("/admin/staff")).status_code == 200
    await sign_out(client)

    await sign_in(client, officer.email)  # not an owner: not required
    assert (await client.get("/admin/")).status_code == 200
