"""The monthly compliance report: the last twelve months to choose from, each as a PDF (the
same document the monthly mail carries, ``services/report_render.py``). Everyone signed in
reads it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cmp_server._utils import utcnow
from cmp_server.models import Site
from cmp_server.services.report import month_of, monthly_report, previous_month
from cmp_server.services.report_render import report_pdf

from ._pages import render
from ._security import requires

__all__ = ["routes"]


@requires("viewer", site=True)
async def reports(request: Request, site: Site) -> Response:
    months = [utcnow().date().replace(day=1)]
    for _ in range(12):
        months.append(previous_month(months[-1]))
    return render(request, "admin/reports.html", {
        "site": site, "tab": "analytics", "months": months,
    })


@requires("viewer", site=True)
async def report_file(request: Request, site: Site) -> Response:
    month = month_of(request.query_params.get("month"))
    pdf = await report_pdf(await monthly_report(site, month))
    name = f"compliance-report-{site.key}-{month:%Y-%m}.pdf"
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


routes = [
    Route("/sites/{key}/reports", reports, methods=["GET"], name="reports"),
    Route("/sites/{key}/reports/pdf", report_file, methods=["GET"], name="report_pdf"),
]
