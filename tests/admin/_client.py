"""Signing in from a test, as a browser would: fetch the form, post it with its token."""

from __future__ import annotations

import re

import httpx

from ..factories import PASSWORD

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(page: str) -> str:
    found = TOKEN.search(page)
    assert found, "the page has no CSRF token"
    return found.group(1)


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    form = await client.get("/admin/login")
    return await client.post("/admin/login", data={
        "csrf_token": csrf_token(form.text), "email": email, "password": password,
    })


async def token_of(client: httpx.AsyncClient, path: str = "/admin/") -> str:
    """The signed-in session's CSRF token, read from a page's forms."""
    return csrf_token((await client.get(path)).text)
