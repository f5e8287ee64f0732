"""The JSON API's records: the consent log search (the HTML filter, ``consents.FilterForm``,
keyset-paged by ``after``), receipt exports streamed as the HTML export streams them (and
audited before the first byte), consent analytics (``analytics.RangeQuery``) and the audit
log (``audit.AuditQuery``, within the sites the token reaches). Exports and the audit log
need a write token, as their HTML pages need the privacy role."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ConfigDict
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from cmp_server.errors import InvalidRequest
from cmp_server.models import ConsentReceipt, Site
from cmp_server.services import analytics, audit, audit_view, consent_log, export
from cmp_server.services.consent_log import Cursor
from cmp_server.services.export import EXPORT_FIELDS
from cmp_server.services.staff import Actor

from ..analytics import RangeQuery
from ..audit import FIELDS as AUDIT_FIELDS
from ..audit import AuditQuery
from ..consents import FILTER_FIELDS, FilterForm
from ..exports import MEDIA
from ._base import body, endpoint, json, query_int

__all__ = ["routes"]

AUDIT_PAGE = 50


def _params(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    params = request.query_params
    return {name: params.get(name, "")[:200] for name in names}


def _receipt(row: ConsentReceipt) -> dict[str, Any]:
    record = {f: getattr(row, f, None) for f in EXPORT_FIELDS if f != "site"}
    record["content_hash"] = row.content_hash
    return record


@endpoint("viewer")
async def consent_search(request: Request, actor: Actor, site: Site) -> Response:
    form = FilterForm.model_validate(_params(request, FILTER_FIELDS))
    after = request.query_params.get("after", "")
    page = await consent_log.search(site, form.receipt_filter(),
                                    after=Cursor.parse(after) if after else None)
    return json({"receipts": [_receipt(r) for r in page.receipts],
                 "next": str(page.next) if page.next else None,
                 "searched_to": page.searched_to})


class ExportBody(FilterForm):
    model_config = ConfigDict(frozen=True, str_strip_whitespace=True, populate_by_name=True,
                              extra="forbid")

    format: Literal["csv", "jsonl"] = "jsonl"


@endpoint("privacy")
async def export_receipts(request: Request, actor: Actor, site: Site) -> Response:
    """The receipts the filter matches, streamed page by page from the database."""
    sent = await body(request, ExportBody)
    stream = await export.begin_export(site, sent.format, sent.receipt_filter(), by=actor,
                                       bom=False)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(stream, media_type=MEDIA[sent.format], headers={
        "Content-Disposition": f'attachment; filename="receipts-{site.key}-{stamp}.'
                               f'{sent.format}"'})


@endpoint("viewer")
async def analytics_get(request: Request, actor: Actor, site: Site) -> Response:
    """Consent outcomes per method and each purpose's granted rate, per day or week."""
    params = request.query_params
    if "from" not in params or "to" not in params:
        raise InvalidRequest("give from and to (YYYY-MM-DD)", field="from")
    span = RangeQuery.model_validate(_params(request, ("from", "to", "bucket")) | (
        {} if params.get("bucket") else {"bucket": "day"}))
    found = await analytics.outcomes(site, span.start, span.end, span.bucket)
    rates = await analytics.purpose_rates(site, span.start, span.end, span.bucket)

    def rate(r: analytics.Rate) -> dict[str, Any]:
        return {"decided": r.decided, "granted": r.granted, "rate": r.rate}

    return json({
        "from": span.start, "to": span.end, "bucket": span.bucket,
        "methods": found.methods, "totals": found.totals, "total": found.total,
        "outcomes": found.buckets,
        "purposes": rates.purposes, "required": rates.required,
        "purpose_totals": {k: rate(v) for k, v in rates.totals.items()},
        "purpose_rates": [{"start": b.start, "end": b.end,
                           "rates": {k: rate(v) for k, v in b.rates.items()}}
                          for b in rates.buckets],
    })


@endpoint("privacy", site=False)
async def audit_log(request: Request, actor: Actor) -> Response:
    """The audit log, newest first, ``AUDIT_PAGE`` entries a page (``before``: ``older``)."""
    form = AuditQuery.model_validate(_params(request, AUDIT_FIELDS))
    where = replace(form.where(), visible=actor.sites)
    rows = await audit.entries(where, before_id=query_int(request, "before", 2**63 - 1),
                               limit=AUDIT_PAGE)
    return json({"entries": [{
        "id": e.id, "at": e.at, "actor": e.actor, "action": e.action,
        "site": e.site.key if e.site else None,
        "object_type": e.object_type, "object_id": e.object_id, "before": e.before,
        "after": e.after, "changes": audit_view.changes(e.before, e.after),
    } for e in rows], "older": rows[-1].id if len(rows) == AUDIT_PAGE else None})


routes = [
    Route("/sites/{key}/consents", consent_search, methods=["GET"]),
    Route("/sites/{key}/exports", export_receipts, methods=["POST"]),
    Route("/sites/{key}/analytics", analytics_get, methods=["GET"]),
    Route("/audit", audit_log, methods=["GET"]),
]
