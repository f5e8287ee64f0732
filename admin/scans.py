"""Scans of one site: start one (page budget, passes), its schedules (listed here, edited in
``schedules``), the history, a running scan's progress, and one scan's findings with what
changed since the scan before it.

Everyone signed in reads them; starting a scan needs the privacy role. The progress page
works without JavaScript (it reloads itself inside ``<noscript>``, and has a Refresh link);
with htmx it polls its own progress box instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal
from urllib.parse import urlencode

from pydantic import Field, field_validator
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import NoMatchFound, Route

from cmp_server.errors import Conflict
from cmp_server.models import Site
from cmp_server.services import scans, schedules
from cmp_server.services.scan_findings import PAGED_LISTS, scan_detail
from cmp_server.services.scan_history import parse_id, scan_history, scan_overview, scan_run

from ._forms import UNREFUSED, Form, Refusal, one_line, save_form, text_of, whole_number
from ._pages import render
from ._security import requires

__all__ = ["routes"]

PASS_LABELS = {
    "none": ("No choice", "what the site sets before the visitor answers the banner"),
    "accept": ("Accept all", "everything the site sets once a visitor accepts"),
    "reject": ("Reject all", "what still fires after a visitor refuses"),
}


class StartScan(Form):
    start_url: str = Field(min_length=1, max_length=2000)
    max_pages: int = Field(ge=1, le=scans.MAX_PAGES)
    passes: tuple[Literal["none", "accept", "reject"], ...] = Field(min_length=1, max_length=3)

    _url = field_validator("start_url")(one_line)


def _inventory_link(request: Request, site: Site) -> Callable[[int | None, str], str]:
    """Where a found item is mapped: its inventory entry, or the inventory searched by its
    name (until the inventory has a page per entry, or when nothing matches yet)."""

    def link(item_id: int | None, name: str) -> str:
        if item_id is not None:
            try:
                return request.url_for("admin:item", key=site.key, item_id=str(item_id)).path
            except NoMatchFound:
                pass
        return request.url_for("admin:inventory", key=site.key).path + "?" + urlencode(
            {"q": name})

    return link


async def _history_page(
    request: Request, site: Site, *, start: dict[str, object] | None = None,
    refused: Refusal = UNREFUSED,
) -> Response:
    before = request.query_params.get("before", "")
    history = await scan_history(site, before=parse_id(before, "page") if before else None)
    settings = request.app.state.settings
    return render(request, "admin/scans.html", {
        "site": site,
        "tab": "scans",
        "overview": await scan_overview(site),
        "history": history,
        "start": start or {"start_url": await scans.suggested_start_url(site), "max_pages": 30,
                           "passes": list(scans.PASSES)},
        "schedules": await schedules.list_schedules(site),
        "describe": schedules.describe,
        "job_urls": lambda schedule: schedules.job_urls(site, schedule),
        "pass_labels": PASS_LABELS,
        "private_allowed": settings.allow_private_scan_targets,
        "private_setting": scans.PRIVATE_TARGETS_SETTING,
        "errors": refused.errors,
    }, refused.status)


@requires("viewer", site=True)
async def history(request: Request, site: Site) -> Response:
    return await _history_page(request, site)


@requires("privacy", site=True)
async def start(request: Request, site: Site) -> Response:
    form = await request.form()
    values: dict[str, object] = {
        "start_url": text_of(form, "start_url"),
        "max_pages": text_of(form, "max_pages"),
        "passes": [p for p in form.getlist("passes") if isinstance(p, str)][:3],
    }

    return await save_form(
        StartScan, values,
        lambda new: scans.request_scan(
            site, start_url=new.start_url, max_pages=new.max_pages, passes=new.passes,
            by=request.state.actor,
            allow_private=request.app.state.settings.allow_private_scan_targets,
        ),
        done=lambda job: RedirectResponse(
            request.url_for("admin:scan_job", key=site.key, job_id=str(job.id)).path, 303),
        again=lambda refused: _history_page(request, site, start=values, refused=refused),
    )


@requires("privacy", site=True)
async def cancel(request: Request, site: Site) -> Response:
    job_id = whole_number(request.path_params["job_id"], 9)
    here = request.url_for("admin:scan_job", key=site.key,
                           job_id=request.path_params["job_id"]).path
    try:
        await scans.cancel_job(site, job_id if job_id is not None else 0,
                               by=request.state.actor)
    except Conflict:
        pass  # it ended meanwhile: the page says how
    return RedirectResponse(here, 303)


@requires("viewer", site=True)
async def job(request: Request, site: Site) -> Response:
    """A scan's progress while it runs, why it failed, or a link to its findings. htmx asks
    for the progress box alone (``HX-Request``) and swaps it in place."""
    run = await scan_run(site, request.path_params["job_id"])
    context = {"site": site, "tab": "scans", "run": run, "pass_labels": PASS_LABELS}
    if request.headers.get("hx-request") == "true":
        return render(request, "admin/scan_progress.html", context)
    return render(request, "admin/scan_job.html", context)


def _pages(request: Request) -> dict[str, int]:
    """The page of each of the scan page's lists (``?items=3&review=2``); a bad value is 1."""
    pages = {}
    for name in PAGED_LISTS:
        value = request.query_params.get(name, "")
        if value.isascii() and value.isdigit() and len(value) <= 6:
            pages[name] = int(value)
    return pages


def _page_link(pages: dict[str, int]) -> Callable[[str], Callable[..., str]]:
    """``link(list)(page=k)``: the query string of the scan page with ``list`` at page
    ``k`` and the other lists where they are, back at the list's heading."""

    def of(name: str) -> Callable[..., str]:
        def link(page: int) -> str:
            query = {k: v for k, v in pages.items() if v != 1}
            query[name] = page
            return urlencode(sorted(query.items())) + f"#{name}"

        return link

    return of


@requires("viewer", site=True)
async def scan(request: Request, site: Site) -> Response:
    pages = _pages(request)
    detail = await scan_detail(site, request.path_params["scan_id"], pages)
    return render(request, "admin/scan.html", {
        "site": site, "tab": "scans", "detail": detail, "changes": detail.changes,
        "inventory_link": _inventory_link(request, site), "pass_labels": PASS_LABELS,
        "private_setting": scans.PRIVATE_TARGETS_SETTING, "page_link": _page_link(pages),
    })


routes = [
    Route("/sites/{key}/scans", history, methods=["GET"], name="scans"),
    Route("/sites/{key}/scans", start, methods=["POST"], name="scan_start"),
    Route("/sites/{key}/scans/jobs/{job_id}", job, methods=["GET"], name="scan_job"),
    Route("/sites/{key}/scans/jobs/{job_id}/cancel", cancel, methods=["POST"],
          name="scan_cancel"),
    Route("/sites/{key}/scans/{scan_id}", scan, methods=["GET"], name="scan"),
]
