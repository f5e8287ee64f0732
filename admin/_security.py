"""What every admin request passes through: security headers, the sign-in check, the role
check and the CSRF check. The permission check lives here and only here; every route names
the role it needs with ``@requires``."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cmp_server.services.staff import ROLES, Actor

from ._pages import render_error

__all__ = ["SecurityHeaders", "csrf_ok", "requires"]

Endpoint = Callable[[Request], Awaitable[Response]]
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

HEADERS = [
    # No inline script anywhere: htmx and our own code come from /admin/static.
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     b"frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
     b"object-src 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds ``HEADERS`` to every admin response (static files keep their own caching)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Inside the mount the path still starts with /admin: static files keep their caching.
        static = "/static/" in scope.get("path", "")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [
                    (k, v) for k, v in HEADERS
                    if k not in names and not (static and k == b"cache-control")
                ]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


async def csrf_ok(request: Request, expected: str) -> bool:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else ""
    return bool(sent) and hmac.compare_digest(sent.encode(), expected.encode())


def requires(role: str) -> Callable[[Endpoint], Endpoint]:
    """Sign-in, role and (for state-changing methods) CSRF checks before the endpoint runs;
    the endpoint finds the actor in ``request.state.actor``."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def checked(request: Request) -> Response:
            actor: Actor | None = await request.app.state.cookies.actor(request)
            if actor is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                login = request.url_for("admin:login").path
                return RedirectResponse(f"{login}?next={quote(target, safe='')}", 303)
            request.state.actor = actor
            if request.method in UNSAFE and not await csrf_ok(request, actor.csrf_token):
                return await render_error(
                    request, 403, "The form had expired or did not come from this admin. "
                    "Go back, reload the page and try again."
                )
            if not actor.can(role):
                return await render_error(
                    request, 403, f"This needs the {role} role; you are signed in as "
                    f"{actor.role}."
                )
            return await endpoint(request)

        checked.required_role = role  # type: ignore[attr-defined]
        return checked

    return decorate
