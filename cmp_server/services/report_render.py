"""The monthly report as HTML (the admin shows it) and as PDF (the admin's download and the
monthly mail's attachment): one template, ``templates/report/monthly.html``, printed by
WeasyPrint in a thread, so the event loop keeps serving while a report is drawn."""

from __future__ import annotations

import asyncio
from functools import cache

from jinja2 import Environment, PackageLoader, select_autoescape

from ..schemas import METHOD_LABELS
from .report import MonthlyReport

__all__ = ["report_html", "report_pdf"]


@cache
def _env() -> Environment:
    return Environment(loader=PackageLoader("cmp_server", "templates/report"),
                       autoescape=select_autoescape(default=True))


def report_html(report: MonthlyReport) -> str:
    return _env().get_template("monthly.html").render(
        r=report, labels=METHOD_LABELS, month_name=report.month.strftime("%B %Y"))


def _pdf(html: str) -> bytes:
    from weasyprint import HTML  # type: ignore[import-untyped]  # loaded on first use

    pdf: bytes = HTML(string=html).write_pdf()
    return pdf


async def report_pdf(report: MonthlyReport) -> bytes:
    return await asyncio.to_thread(_pdf, report_html(report))
