"""The JSON API's drafts, publishing and scans: the draft with its texts' versions, editing
one language's texts (``drafts.edit_texts``, over the version read), the lint and the publish
summary with its fingerprint, publishing over that fingerprint (``changes.publish_draft``, as
the HTML confirm form does), and scans: start, history, status, findings, cancel."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cmp_server.models import Site
from cmp_server.services import changes, drafts, revisions, scans, sites
from cmp_server.services.scan_findings import PAGED_LISTS, scan_detail
from cmp_server.services.scan_history import parse_id, scan_history, scan_run
from cmp_server.services.staff import Actor

from .._forms import one_line
from ._base import body, endpoint, json, plain, query_int

__all__ = ["routes"]


def _summary(summary: changes.Summary) -> dict[str, Any]:
    return {
        "published": summary.published, "number": summary.number,
        "fingerprint": summary.fingerprint, "unchanged": summary.unchanged,
        "material": summary.material, "changes": summary.changes,
        "findings": summary.findings, "errors": len(summary.errors),
    }


@endpoint("viewer")
async def draft_get(request: Request, actor: Actor, site: Site) -> Response:
    """The draft config, each language's texts and their versions, and the publish summary."""
    subjects = {lang: revisions.texts(site, lang) for lang in site.languages}
    stamps = await revisions.stamps(subjects.values())
    config = await drafts.draft_config(site)
    fresh = await sites.get_site(site.key)  # after the versions: at least as new
    return json({
        "config": config, "texts": fresh.texts,
        "versions": {lang: stamps[s.key] for lang, s in subjects.items()},
        "summary": _summary(await changes.publish_summary(site)),
    })


class TextsEdit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    texts: dict[str, str] = Field(max_length=len(drafts.TEXT_KEYS))
    version: int = Field(ge=0, le=10**18)


@endpoint("privacy")
async def texts_put(request: Request, actor: Actor, site: Site) -> Response:
    language = request.path_params["language"]
    edit = await body(request, TextsEdit)
    changed = await drafts.edit_texts(site, language, edit.texts, by=actor,
                                      version=edit.version)
    stamp = await revisions.stamp(revisions.texts(site, language))
    return json({"changed": {k: {"before": b, "after": a} for k, (b, a) in changed.items()},
                 "version": stamp})


@endpoint("viewer")
async def lint_get(request: Request, actor: Actor, site: Site) -> Response:
    summary = await changes.publish_summary(site)
    return json({"findings": summary.findings, "errors": len(summary.errors),
                 "fingerprint": summary.fingerprint})


class PublishBody(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    fingerprint: str = Field(pattern=r"^[0-9a-f]{64}$")


@endpoint("privacy")
async def publish(request: Request, actor: Actor, site: Site) -> Response:
    """Publish the draft whose summary had ``fingerprint`` (``GET …/draft``)."""
    sent = await body(request, PublishBody)
    version = await changes.publish_draft(site, by=actor, expected=sent.fingerprint)
    return json({"number": version.number, "published_at": version.published_at}, 201)


@endpoint("viewer")
async def versions(request: Request, actor: Actor, site: Site) -> Response:
    return json({"versions": await changes.list_versions(site)})


# -- scans ---------------------------------------------------------------------------------


class StartScan(BaseModel):
    """As the HTML form (``admin/scans.StartScan``); every field may be left out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start_url: str | None = Field(default=None, min_length=1, max_length=2000)
    max_pages: int = Field(default=30, ge=1, le=scans.MAX_PAGES)
    passes: tuple[Literal["none", "accept", "reject"], ...] = Field(
        default=("none", "accept", "reject"), min_length=1, max_length=3)

    _url = field_validator("start_url")(lambda v: v if v is None else one_line(v))


def _run(run: Any) -> dict[str, Any]:
    out = plain(run, "active")
    out["progress"] = plain(run.progress, "percent", "line")
    return out


@endpoint("privacy")
async def scan_start(request: Request, actor: Actor, site: Site) -> Response:
    sent = await body(request, StartScan)
    job = await scans.request_scan(
        site, start_url=sent.start_url, max_pages=sent.max_pages, passes=sent.passes,
        by=actor, allow_private=request.app.state.settings.allow_private_scan_targets)
    return json(_run(await scan_run(site, job.id)), 201)


@endpoint("viewer")
async def scan_list(request: Request, actor: Actor, site: Site) -> Response:
    page = await scan_history(site, before=query_int(request, "before"))
    return json({"runs": [_run(r) for r in page.runs], "older": page.older})


@endpoint("viewer")
async def scan_status(request: Request, actor: Actor, site: Site) -> Response:
    return json(_run(await scan_run(site, request.path_params["job_id"])))


@endpoint("privacy")
async def scan_cancel(request: Request, actor: Actor, site: Site) -> Response:
    job_id = parse_id(request.path_params["job_id"], "scan")
    await scans.cancel_job(site, job_id, by=actor)
    return json(_run(await scan_run(site, job_id)))


@endpoint("viewer")
async def scan_report(request: Request, actor: Actor, site: Site) -> Response:
    """One scan's findings, each list a page at a time (``?items=2``), without the raw
    report."""
    pages = {name: n for name in PAGED_LISTS
             if (n := query_int(request, name, 999_999)) is not None and n >= 1}
    detail = await scan_detail(site, request.path_params["scan_id"], pages)
    out = plain(detail)
    out.pop("report", None)
    return json(out)


routes = [
    Route("/sites/{key}/draft", draft_get, methods=["GET"]),
    Route("/sites/{key}/draft/texts/{language}", texts_put, methods=["PUT"]),
    Route("/sites/{key}/draft/lint", lint_get, methods=["GET"]),
    Route("/sites/{key}/publish", publish, methods=["POST"]),
    Route("/sites/{key}/versions", versions, methods=["GET"]),
    Route("/sites/{key}/scans", scan_list, methods=["GET"]),
    Route("/sites/{key}/scans", scan_start, methods=["POST"]),
    Route("/sites/{key}/scans/jobs/{job_id}", scan_status, methods=["GET"]),
    Route("/sites/{key}/scans/jobs/{job_id}/cancel", scan_cancel, methods=["POST"]),
    Route("/sites/{key}/scans/{scan_id}", scan_report, methods=["GET"]),
]
