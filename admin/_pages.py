"""Rendering pages: the one Jinja2 environment (autoescape on), and the one error table for
HTML pages, keyed by the classes of ``cmp_server.errors`` as ``_http.py``'s is for JSON."""

from __future__ import annotations

import asyncio
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from cmp_server import errors
from cmp_server._utils import plural

__all__ = ["render", "render_error", "render_off_loop", "status_for"]

_env = Environment(
    loader=PackageLoader("admin", "templates"),
    autoescape=select_autoescape(["html"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
# ``{{ n | plural('item') }}``: "1 item", "2 items", never "1 items".
_env.filters["plural"] = plural

STATUS: dict[type[errors.CmpError], int] = {
    errors.NotFound: 404,
    errors.NothingPublished: 404,
    errors.InvalidRequest: 422,
    errors.OriginNotAllowed: 403,
    errors.Conflict: 409,
    errors.Unavailable: 503,
}


# What happened, as a page's heading says it; the message under it says why.
HEADINGS = {
    403: "You cannot open this page",
    404: "Not found",
    409: "This changed meanwhile",
    422: "This could not be done",
    503: "Not available right now",
}


def status_for(exc: errors.CmpError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def _page(request: Request, template: str, context: dict[str, Any] | None) -> str:
    actor = getattr(request.state, "actor", None)
    return _env.get_template(template).render(
        request=request,
        actor=actor,
        csrf_token=actor.csrf_token if actor else "",
        url_for=lambda name, **params: request.url_for(name, **params).path,
        **(context or {}),
    )


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> Response:
    return HTMLResponse(_page(request, template, context), status)


async def render_off_loop(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> Response:
    """``render`` in a thread, for a page whose rows a scanned site decides (a scan's page):
    the event loop answers receipts meanwhile."""
    return HTMLResponse(await asyncio.to_thread(_page, request, template, context), status)


async def render_error(
    request: Request, status: int, message: str, heading: str | None = None
) -> Response:
    """The error page: ``heading`` (by default the status's own, ``HEADINGS``) says what
    happened, ``message`` why and what to do."""
    title = heading or HEADINGS.get(status, "Something went wrong")
    return render(request, "admin/error.html",
                  {"status": status, "message": message, "heading": title}, status)


async def cmp_error_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.CmpError)
    return await render_error(request, status_for(exc), exc.detail)
