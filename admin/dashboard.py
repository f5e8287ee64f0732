"""The first page after signing in: every site, and what needs attention on each."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cmp_server.services import attention, sites

from ._pages import render
from ._security import requires

__all__ = ["routes"]


@requires("viewer")
async def dashboard(request: Request) -> Response:
    return render(request, "admin/dashboard.html", {
        "sites": await attention.attention(await sites.list_sites(request.state.actor.sites)),
    })


routes = [
    Route("/", dashboard, methods=["GET"], name="dashboard"),
]
