"""The audit log: every change, newest first, filtered by site, account, action and date range
(a frozen form read from the query string, errors beside their fields), keyset-paged by id;
each entry field by field, before → after (``services/audit_view.py``); and its CSV export,
itself audited. One list of cards rather than a wide table, so it reads on a phone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from pydantic import BeforeValidator, Field, ValidationError, field_validator
from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from cmp_server.services import audit, audit_view, sites, staff_lifecycle

from ._forms import DayRange, day_between, field_errors, text_of, whole_number
from ._pages import render
from ._security import requires

__all__ = ["AuditQuery", "routes"]

PAGE = 50
ACTION = r"^([a-z_]{1,32}(\.[a-z_]{1,32}){0,3})?$"  # one action, or a family of them
FIELDS = ("site", "staff", "action", "from", "to")
IsoDate = Annotated[date | None, day_between(date(1970, 1, 1), date(9998, 12, 31))]
MESSAGES = {
    "site": "Choose a site from the list.",
    "staff": "Choose an account from the list.",
    "action": "Choose an action from the list.",
}


def _id(value: Any) -> Any:
    if value is None:
        return None
    number = whole_number(value, 10)
    if number is None or number >= 2**31:  # the ids are 32-bit: PostgreSQL refuses more
        raise ValueError("not an id")
    return number


class AuditQuery(DayRange):
    """The filter as the page's form sends it; empty fields match everything; ``to`` is the
    whole day (UTC)."""

    site: Annotated[int | None, BeforeValidator(_id)] = None
    staff: Annotated[int | None, BeforeValidator(_id)] = None
    action: str = Field(default="", max_length=64, pattern=ACTION)
    from_: IsoDate = Field(default=None, alias="from")
    to: IsoDate = None

    @field_validator("site", "staff", "from_", "to", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    def where(self) -> audit.AuditFilter:
        return audit.AuditFilter(
            site_id=self.site, staff_id=self.staff, action=self.action,
            start=_midnight(self.from_) if self.from_ else None,
            end=_midnight(self.to + timedelta(days=1)) if self.to else None,
        )

    def query(self) -> dict[str, str]:
        values = self.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)
        return {k: v.isoformat() if isinstance(v, date) else str(v) for k, v in values.items()}


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _parse(
    source: QueryParams | FormData,
) -> tuple[AuditQuery | None, dict[str, str], dict[str, str]]:
    values = {name: (text_of(source, name) if isinstance(source, FormData)
                     else source.get(name, ""))[:200] for name in FIELDS}
    try:
        return AuditQuery.model_validate(values), values, {}
    except ValidationError as exc:
        return None, values, field_errors(exc, names={"from_": "from"}, messages=MESSAGES)


def _visible(request: Request, form: AuditQuery) -> audit.AuditFilter:
    """The form's filter, within what the reader may see (a site-limited account: its sites'
    entries only)."""
    return replace(form.where(), visible=request.state.actor.sites)


async def _page(request: Request, form: AuditQuery | None, values: dict[str, str],
                errors: dict[str, str]) -> Response:
    entries = []
    older = ""
    if form is not None:
        before = whole_number(request.query_params.get("before"), 18)
        rows = await audit.entries(_visible(request, form), before_id=before, limit=PAGE)
        entries = [(e, audit_view.changes(e.before, e.after)) for e in rows]
        if len(rows) == PAGE:
            older = "?" + urlencode({**form.query(), "before": rows[-1].id})
    return render(request, "admin/audit.html", {
        "entries": entries, "values": values, "errors": errors,
        "sites": await sites.list_sites(request.state.actor.sites),
        "accounts": await staff_lifecycle.accounts(),
        "actions": await audit.actions(), "older_url": older,
        "newest_url": "?" + urlencode(form.query()) if form and "before" in
        request.query_params else "",
        "long": audit_view.LONG,
    }, 422 if errors else 200)


@requires("privacy", post="privacy")
async def audit_log(request: Request) -> Response:
    """GET: the log. POST: the CSV of what the filter matches (the form carries the filter)."""
    if request.method != "POST":
        return await _page(request, *_parse(request.query_params))
    form, values, errors = _parse(await request.form())
    if form is None:
        return await _page(request, None, values, errors)
    stream = await audit_view.begin_export(_visible(request, form), by=request.state.actor)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(stream, media_type="text/csv; charset=utf-8", headers={
        "content-disposition": f'attachment; filename="audit-{stamp}.csv"',
    })


routes = [
    Route("/audit", audit_log, methods=["GET", "POST"], name="audit"),
]
