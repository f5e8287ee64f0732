"""Every admin body bounded before it is parsed (``admin/_limits.py``): a sign-in form of
600 fields of 1 MB each once took the server from 83 MB to 700 MB before its 403."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette

from cmp_server.settings import Settings

from ..factories import published_site, staff_member
from ._client import csrf_token, sign_in, token_of


async def test_a_form_larger_than_the_limit_is_refused_before_parsing(
    app: Starlette, client: httpx.AsyncClient, settings: Settings
) -> None:
    limit = settings.admin_max_body_bytes
    page = await client.get("/admin/login")
    token = csrf_token(page.text)
    huge = {"csrf_token": token, "email": "x@example.org", "password": "p" * (limit + 1)}
    r = await client.post("/admin/login", data=huge)
    assert r.status_code == 413
    assert "larger than this admin takes" in r.text
    assert r.headers["content-security-policy"].startswith("default-src 'self'")


async def test_a_body_without_a_length_is_counted_as_it_comes(
    app: Starlette, client: httpx.AsyncClient, settings: Settings
) -> None:
    chunk = b"a=" + b"x" * 65_536 + b"&"
    sent = 0

    async def stream() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(settings.admin_max_body_bytes // len(chunk) + 50):
            sent += 1
            yield chunk

    r = await client.post("/admin/login", content=stream(),
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
    assert "content-length" not in {k.lower() for k in r.request.headers}


async def test_forms_within_the_limit_work_as_before(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    member = await staff_member("owner")
    signed = await sign_in(client, member.email)  # the sign-in form goes through it too
    assert signed.status_code == 303
    token = await token_of(client)
    r = await client.post(f"/admin/sites/{site.key}/blocking/rules", data={
        "csrf_token": token, "target": "tracker.example", "purposes": ["marketing"],
        "padding": "x" * 200_000})
    assert r.status_code == 303
