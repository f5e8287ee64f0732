"""What every admin route goes through (``admin/_security.py``): no page without signing in,
no change without the CSRF token, roles, security headers, escaping."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from cmp_server.models import AuditEntry, Staff, StaffSession
from cmp_server.services import sites

from ..factories import staff_member
from ._client import sign_in, token_of

# The pages anyone may see: signing in, its second step (which sends anyone without a right
# password just given back to the first: tests/admin/test_two_factor.py), and a password-reset
# link (the link is the key; its form has the sign-in form's own token: test_staff.py).
OPEN = {"/login", "/login/code", "/reset/{token}"}
PAYLOAD = '<script>window.pwned=1</script><img src=x onerror="window.pwned=1">'


def admin_routes(app: Starlette) -> list[tuple[str, str]]:
    """(method, path) of every route of the admin app, static files aside."""
    mount = next(r for r in app.routes if isinstance(r, Mount) and r.name == "admin")
    found = []
    for route in mount.routes:
        if isinstance(route, Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    found.append((method, route.path))
    assert len(found) >= 6
    return found


async def test_no_admin_page_without_signing_in(app: Starlette, client: httpx.AsyncClient) -> None:
    for method, path in admin_routes(app):
        if path in OPEN:
            continue
        r = await client.request(method, "/admin" + path)
        assert r.status_code == 303, (method, path)
        assert r.headers["location"].startswith("/admin/login?next="), (method, path)


async def test_every_change_needs_the_csrf_token(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    owner = await staff_member("owner")
    await sign_in(client, owner.email)
    before = await AuditEntry.all().count(), await Staff.all().count()
    for method, path in admin_routes(app):
        if method == "GET" or path in OPEN:
            continue
        form = {"email": "new@example.org", "role": "owner", "password": "x" * 20}
        missing = await client.request(method, "/admin" + path, data=form)
        wrong = await client.request(method, "/admin" + path,
                                     data={**form, "csrf_token": "not-it"})
        header = await client.request(method, "/admin" + path, data=form,
                                      headers={"X-CSRF-Token": "not-it"})
        for r in (missing, wrong, header):
            assert r.status_code == 403, (method, path)
            assert "did not come from this admin" in r.text
    assert (await AuditEntry.all().count(), await Staff.all().count()) == before
    assert await StaffSession.filter(staff_id=owner.id).count() == 1  # still signed in
    # With the token (as a header, as htmx sends it) the same request goes through.
    token = await token_of(client)
    added = await client.post("/admin/staff", headers={"X-CSRF-Token": token},
                              data={"email": "new@example.org", "role": "viewer",
                                    "password": "x" * 20})
    assert added.status_code == 303
    assert await Staff.exists(email="new@example.org")


@pytest.mark.parametrize(
    ("role", "path", "allowed"),
    [
        ("viewer", "/admin/", True),
        ("viewer", "/admin/audit", False),
        ("viewer", "/admin/staff", False),
        ("privacy", "/admin/audit", True),
        ("privacy", "/admin/staff", False),
        ("owner", "/admin/staff", True),
    ],
)
async def test_roles(app: Starlette, client: httpx.AsyncClient, role: str, path: str,
                     allowed: bool) -> None:
    member = await staff_member(role)
    await sign_in(client, member.email)
    r = await client.get(path)
    assert r.status_code == (200 if allowed else 403), r.text
    if not allowed:
        assert f"you are signed in as {role}" in r.text


async def test_a_privacy_user_cannot_add_accounts(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    member = await staff_member("privacy")
    await sign_in(client, member.email)
    token = await token_of(client)
    r = await client.post("/admin/staff", data={
        "csrf_token": token, "email": "sneaky@example.org", "role": "owner",
        "password": "x" * 20,
    })
    assert r.status_code == 403
    assert not await Staff.exists(email="sneaky@example.org")


async def test_security_headers_on_every_admin_response(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    owner = await staff_member("owner")
    anonymous = [await client.get("/admin/login"), await client.get("/admin/")]
    await sign_in(client, owner.email)
    for r in [*anonymous, await client.get("/admin/"), await client.get("/admin/nowhere")]:
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
        assert r.headers["cache-control"] == "no-store"
    css = await client.get("/admin/static/admin.css")
    assert css.status_code == 200 and "no-store" not in css.headers.get("cache-control", "")


async def test_what_staff_typed_is_escaped(app: Starlette, client: httpx.AsyncClient) -> None:
    owner = await staff_member("owner")
    await sites.create_site(PAYLOAD, ["xss.example"])
    await sign_in(client, owner.email)
    token = await token_of(client)
    r = await client.post("/admin/staff", data={
        "csrf_token": token, "email": "named@example.org", "role": "viewer",
        "name": PAYLOAD, "password": "x" * 20,
    })
    assert r.status_code == 303
    for path in ("/admin/", "/admin/staff", "/admin/audit"):
        page = (await client.get(path)).text
        assert "<script>window.pwned" not in page and "<img src=x" not in page, path
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in (await client.get("/admin/")).text


async def test_staff_form_errors_come_back_beside_the_field(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    owner = await staff_member("owner")
    await sign_in(client, owner.email)
    for form, field in [
        ({"email": "", "role": "viewer", "password": "x" * 20}, "email"),
        ({"email": "a@example.org", "role": "boss", "password": "x" * 20}, "role"),
        ({"email": "a@example.org", "role": "viewer", "password": "short"}, "password"),
        ({"email": "nul\x00@example.org", "role": "viewer", "password": "x" * 20}, "email"),
        ({"email": "a@example.org" * 100, "role": "viewer", "password": "x" * 20}, "email"),
        ({"email": owner.email, "role": "viewer", "password": "x" * 20}, "email"),
    ]:
        r = await client.post("/admin/staff", data={**form, "csrf_token": await token_of(client)})
        assert r.status_code in (409, 422), (form, r.status_code)
        assert f'id="e-{field}"' in r.text, form


async def test_the_audit_log_is_filtered_by_account(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    owner = await staff_member("owner")
    await sign_in(client, owner.email)
    await client.post("/admin/staff", data={
        "csrf_token": await token_of(client), "email": "logged@example.org", "role": "viewer",
        "password": "x" * 20,
    })
    mine = await client.get("/admin/audit", params={"staff": owner.id})
    assert "logged@example.org" in mine.text and 'class="action">staff.create' in mine.text
    nobody = await client.get("/admin/audit", params={"staff": owner.id + 999})
    assert 'class="action">' not in nobody.text and "No entry matches." in nobody.text
