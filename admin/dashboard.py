"""The first page after signing in: every site, and what needs attention on each."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cmp_server.services import attention, audit, sites, staff

from ._forms import whole_number
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
    site_id, staff_id = whole_number(params.get("site"), 18), whole_number(params.get("staff"), 18)
    entries = await audit.entries(site_id=site_id, staff_id=staff_id,
                                  before_id=whole_number(params.get("before"), 18))
    older = {"before": entries[-1].id if len(entries) == 50 else None, "site": site_id,
             "staff": staff_id}
    return render(request, "admin/audit.html", {
        "entries": entries,
        "sites": await sites.list_sites(),
        "accounts": await staff.list_staff(),
        "site_id": site_id,
        "staff_id": staff_id,
        "older_url": f"{request.url_for('admin:audit').path}?"
        + urlencode({k: v for k, v in older.items() if v}) if older["before"] else "",
    })


routes = [
    Route("/", dashboard, methods=["GET"], name="dashboard"),
    Route("/audit", audit_log, methods=["GET"], name="audit"),
]
