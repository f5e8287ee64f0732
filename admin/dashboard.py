"""The first page after signing in: every site, and what needs attention on each."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cmp_server.services import attention, audit, sites, staff

from ._pages import render
from ._security import requires

__all__ = ["routes"]


@requires("viewer")
async def dashboard(request: Request) -> Response:
    return render(request, "admin/dashboard.html", {
        "sites": await attention.attention(await sites.list_sites()),
    })


@requires("privacy")
async def audit_log(request: Request) -> Response:
    """Every change, newest first, filtered by site and by account, paged by id."""
    params = request.query_params

    def as_int(name: str) -> int | None:
        value = params.get(name, "")
        return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None

    site_id, staff_id = as_int("site"), as_int("staff")
    entries = await audit.entries(site_id=site_id, staff_id=staff_id, before_id=as_int("before"))
    return render(request, "admin/audit.html", {
        "entries": entries,
        "sites": await sites.list_sites(),
        "accounts": await staff.list_staff(),
        "site_id": site_id,
        "staff_id": staff_id,
        "next_before": entries[-1].id if len(entries) == 50 else None,
    })


routes = [
    Route("/", dashboard, methods=["GET"], name="dashboard"),
    Route("/audit", audit_log, methods=["GET"], name="audit"),
]
