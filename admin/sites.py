"""Placeholder: the site pages are being built (issue 11)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cmp_server.services import sites

from ._pages import render
from ._security import requires

__all__ = ["routes"]


@requires("viewer")
async def placeholder(request: Request) -> Response:
    site = await sites.get_site(request.path_params["key"])
    return render(request, "admin/todo.html", {"site": site, "tab": ""})


routes = [
    Route("/sites/{key}", placeholder, methods=["GET"], name="site"),
]
