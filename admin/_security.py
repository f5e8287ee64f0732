"""What every admin request passes through: security headers, the sign-in check, the role
check and the CSRF check. The permission check lives here and only here; every route names
the role it needs with ``@requires``, and a route under ``/sites/{key}`` has its site loaded
here too (``site=True``): an unknown key is a 404 before the view runs."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal, overload
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cmp_server.errors import SiteNotFound
from cmp_server.services import sites
from cmp_server.services.staff import ROLES, Actor

from ._pages import render_error

if TYPE_CHECKING:
    from cmp_server.models import Site

__all__ = ["SecurityHeaders", "csrf_ok", "requires", "site_for"]

Endpoint = Callable[[Request], Awaitable[Response]]
SiteEndpoint = Callable[[Request, "Site"], Awaitable[Response]]
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


async def site_for(actor: Actor, key: str) -> Site:
    """The site ``key`` names, if ``actor`` may see it; else ``SiteNotFound``, the same answer
    as for a key that names no site (a site-limited account, or an API token for other sites,
    learns nothing of the sites it may not see). The HTML admin and the JSON API both ask
    here."""
    loaded = await sites.get_site(key)
    if not actor.sees(loaded.id):
        raise SiteNotFound(f"no site with key {key!r}")
    return loaded


@overload
def requires(
    role: str, *, site: Literal[False] = False, post: str | None = None,
    enrolment: bool = False,
) -> Callable[[Endpoint], Endpoint]: ...


@overload
def requires(
    role: str, *, site: Literal[True], post: str | None = None, enrolment: bool = False
) -> Callable[[SiteEndpoint], Endpoint]: ...


def requires(
    role: str, *, site: bool = False, post: str | None = None, enrolment: bool = False
) -> Callable[[Callable[..., Awaitable[Response]]], Endpoint]:
    """Sign-in, role and (for state-changing methods) CSRF checks before the endpoint runs;
    the endpoint finds the actor in ``request.state.actor``. ``post``: the role a form sent
    to a page that ``role`` reads needs. With ``site=True`` the endpoint is
    ``view(request, site)``, the site that the path's ``key`` names (``SiteNotFound``, a 404
    page, for any other key, and for a site a site-limited account may not see: the same
    answer, so it learns nothing of other sites).

    An owner's route without a site is the whole installation's (accounts, new sites): a
    site-limited owner gets 403 there. An owner who must enrol in two-factor sign-in
    (``Actor.must_enrol``) is sent to enrolment from every route but the few that say
    ``enrolment=True``."""
    if role not in ROLES or post not in (None, *ROLES):
        raise ValueError(f"unknown role {role!r} or {post!r}")

    def decorate(endpoint: Callable[..., Awaitable[Response]]) -> Endpoint:
        @functools.wraps(endpoint)
        async def checked(request: Request) -> Response:
            actor: Actor | None = await request.app.state.cookies.actor(request)
            if actor is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                login = request.url_for("admin:login").path
                return RedirectResponse(f"{login}?next={quote(target, safe='')}", 303)
            request.state.actor = actor
            if actor.must_enrol and not enrolment:
                return RedirectResponse(request.url_for("admin:two_factor").path, 303)
            if request.method in UNSAFE and not await csrf_ok(request, actor.csrf_token):
                return await render_error(
                    request, 403, "The form had expired or did not come from this admin. "
                    "Go back, reload the page and try again.", "The form was not accepted"
                )
            loaded = None
            if site:
                loaded = await site_for(actor, request.path_params["key"])
            needed = post if post and request.method in UNSAFE else role
            if not actor.can(needed):
                return await render_error(
                    request, 403, f"{'Changing this' if needed != role else 'This'} needs the "
                    f"{needed} role; you are signed in as {actor.role}.",
                    "Not allowed with your role",
                )
            if needed == "owner" and not site and actor.sites is not None:
                return await render_error(
                    request, 403, "This needs an owner of every site; your account is "
                    "limited to some sites."
                )
            return await endpoint(request) if loaded is None else await endpoint(request, loaded)

        checked.required_role = role  # type: ignore[attr-defined]
        return checked

    return decorate
