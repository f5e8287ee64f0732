"""Proof out of the system: exports of receipts (CSV, JSON Lines) and the retention period with
what the next purge takes and the purge log.

Exports need the privacy role: they carry visitors' data (ids, truncated addresses, user
agents) out of the system, so viewers read the log but do not download it. Each export is
written to the audit log before its first byte (``export.begin_export``).

A large range is streamed from the database page by page (a million rows are never in
memory); the form counts the matching receipts first (in the database), so staff know what
they are about to download, and the browser's own download shows the bytes coming. No
background job: the stream needs no storage for finished files, nothing to clean up, and
nothing that outlives the staff member's session.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

from pydantic import Field, ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from cmp_server.errors import CmpError
from cmp_server.services import consent_log, export, retention, revisions, sites

from ._conflicts import meanwhile, version_of, without_form_error
from ._conflicts import read_at as _read_at
from ._forms import UNREFUSED, Form, Refusal, field_errors, save_form, text_of, whole_number
from ._pages import render
from ._security import requires
from .consents import FILTER_FIELDS, filter_context, parse_filter

if TYPE_CHECKING:
    from cmp_server.models import Site

__all__ = ["routes"]

MEDIA = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
LOOKAHEAD_DAYS = 7


class FormatForm(Form):
    format: Literal["csv", "jsonl"]


@requires("privacy", site=True)
async def export_page(request: Request, site: Site) -> Response:
    """GET: the form, and with a filter given, how many receipts match. POST: the download."""
    if request.method == "POST":
        return await _download(request, site)
    params = request.query_params
    form, values, errors = parse_filter(params)
    matching = None
    if form is not None and "preview" in params:
        try:
            matching = await consent_log.count(site, form.receipt_filter())
        except CmpError as exc:
            errors = {"form": exc.detail}
    return render(request, "admin/export.html", {
        "site": site, "tab": "consents", "section": "export", "values": values,
        "errors": errors, "matching": matching, "fmt": params.get("format", "csv"),
        **await filter_context(site),
    }, 422 if errors else 200)


async def _download(request: Request, site: Site) -> Response:
    data = await request.form()
    sent = {name: text_of(data, name)[:200] for name in FILTER_FIELDS}
    form, values, errors = parse_filter(sent)
    try:
        fmt = FormatForm.model_validate({"format": text_of(data, "format")}).format
    except ValidationError as exc:
        errors = {**errors, **field_errors(exc)}
    if form is None or errors:
        # A good filter with a bad format: the download form again, the error beside it.
        matching = await consent_log.count(site, form.receipt_filter()) if form else None
        return render(request, "admin/export.html", {
            "site": site, "tab": "consents", "section": "export", "values": values,
            "errors": errors, "matching": matching, "fmt": text_of(data, "format"),
            **await filter_context(site),
        }, 422)
    where = form.receipt_filter()
    stream = await export.begin_export(site, fmt, where, by=request.state.actor, bom=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"receipts-{site.key}-{stamp}.{fmt}"
    return StreamingResponse(stream, media_type=MEDIA[fmt], headers={
        "Content-Disposition": f'attachment; filename="{name}"',
    })


class RetentionForm(Form):
    days: int = Field(ge=1, le=retention.MAX_RETENTION_DAYS)
    confirm: bool = False


async def _retention_page(
    request: Request, site: Site, *, refused: Refusal = UNREFUSED, days: str = "",
    confirm: retention.RetentionPreview | None = None, read_at: int | None = None,
) -> Response:
    """``read_at``: the version the form sent (a refusal's, or the one a confirmation
    carries on); otherwise the version now, read before the site."""
    params = request.query_params
    subject = revisions.settings(site)
    version = await revisions.stamp(subject)
    site = await sites.get_site(site.key)

    async def stored() -> dict[str, Any]:
        return {"days": (await sites.get_site(site.key)).receipt_retention_days}

    conflict = await meanwhile(
        refused, subject, read_at, stored=stored, typed={"days": days},
        labels={"days": "Keep receipts for (days)"},
        discard=request.url_for("admin:retention", key=site.key).path, form_id="form-days")
    if conflict is not None:
        version = conflict.version
    elif confirm is not None and read_at is not None:
        version = read_at  # the confirmation saves over what the first form read, no newer
    log = await retention.purge_log(site, before_id=whole_number(params.get("before"), 9))
    preview = await retention.preview(site, lookahead_days=LOOKAHEAD_DAYS)

    def export_url(until: datetime) -> str:
        # Whole days: the export reaches the end of the horizon's day, more than goes by then.
        query = urlencode({"to": until.date().isoformat(), "preview": "1"})
        return f"{request.url_for('admin:export', key=site.key).path}?{query}"

    return render(request, "admin/retention.html", {
        "site": site, "tab": "consents", "section": "retention", "preview": preview,
        "errors": without_form_error(refused), "days": days or str(site.receipt_retention_days),
        "version": version, "conflict": conflict,
        "confirm": confirm, "log": log, "lookahead": LOOKAHEAD_DAYS,
        "next_before": log[-1].id if len(log) == 50 else None,
        "export_url": export_url,
    }, refused.status)


@requires("viewer", site=True)
async def retention_page(request: Request, site: Site) -> Response:
    return await _retention_page(request, site)


@requires("privacy", site=True)
async def retention_set(request: Request, site: Site) -> Response:
    """Change the retention period. Shortening it so that the next purge takes receipts asks
    to confirm first, with the count and a link to export them."""
    data = await request.form()
    days = text_of(data, "days")
    read_at = _read_at(data)

    async def save(form: RetentionForm) -> retention.RetentionPreview | None:
        """None when saved; what the shorter period purges when that needs confirming."""
        retention.check_retention(site, form.days)
        if form.days < site.receipt_retention_days and not form.confirm:
            shorter = await retention.preview(site, days=form.days, lookahead_days=0)
            if shorter.due:
                return shorter
        await retention.set_retention(site, form.days, by=request.state.actor,
                                      version=version_of(data))
        return None

    async def done(shorter: retention.RetentionPreview | None) -> Response:
        if shorter is not None:
            return await _retention_page(request, site, days=days, confirm=shorter,
                                         read_at=read_at)
        return RedirectResponse(request.url_for("admin:retention", key=site.key).path, 303)

    return await save_form(
        RetentionForm, {"days": days, "confirm": data.get("confirm") == "1"}, save, done=done,
        again=lambda refused: _retention_page(request, site, refused=refused, days=days,
                                              read_at=read_at),
        names={"receipt_retention_days": "days"},
    )


routes = [
    Route("/sites/{key}/export", export_page, methods=["GET", "POST"], name="export"),
    Route("/sites/{key}/retention", retention_page, methods=["GET"], name="retention"),
    Route("/sites/{key}/retention", retention_set, methods=["POST"], name="retention_set"),
]
