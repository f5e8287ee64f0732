"""The consent log: search a site's receipts, one receipt as proof (its chain, whether its hash
verifies, the texts the visitor saw), and a visitor's whole history for an access request.

Everyone signed in may read the log; downloading a visitor's history is an export, and exports
need the privacy role (they carry visitors' data out of the system, and each is audited).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlencode
from uuid import UUID

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cmp_server.errors import CmpError
from cmp_server.schemas import METHOD_LABELS, METHODS, Method
from cmp_server.services import checkpoints, consent_log, export, sites
from cmp_server.services.consent_log import Cursor, ReceiptFilter

from ._forms import DayRange, day_between, field_errors
from ._pages import render
from ._security import requires

if TYPE_CHECKING:
    from cmp_server.models import Site

__all__ = ["FILTER_FIELDS", "FilterForm", "filter_context", "parse_filter", "routes"]

# Any day a receipt can have; the bounds keep a typed year from overflowing (``to`` + 1 day).
_HEX = re.compile(r"[0-9a-f]{8,32}")
IsoDate = Annotated[date | None, day_between(date(1970, 1, 1), date(9998, 12, 31))]


class FilterForm(DayRange):
    """The consent log's filter, as the search and the export forms send it (every field
    optional; empty means any). ``to`` is inclusive: the whole day, in UTC."""

    consent_id: UUID | None = None
    # A whole receipt id, or its start as the table shows it (8 hex digits, and the "…").
    receipt_id: str | None = None
    from_: IsoDate = Field(default=None, alias="from")
    to: IsoDate = None
    method: Method | None = None
    language: str | None = Field(
        default=None, max_length=8, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$"
    )
    purpose: str | None = Field(default=None, max_length=40, pattern=r"^[a-z0-9_-]{1,40}$")
    decision: Literal["granted", "refused"] | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("receipt_id")
    @classmethod
    def _receipt_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = value.strip().removesuffix("…").removesuffix("...").replace("-", "").lower()
        if not _HEX.fullmatch(digits):
            raise ValueError("Give a whole receipt id or at least its first 8 characters "
                             "(digits 0-9 and letters a-f), as the table shows them.")
        return str(UUID(digits)) if len(digits) == 32 else digits

    @field_validator("decision")
    @classmethod
    def _with_purpose(cls, value: str | None, info: ValidationInfo) -> str | None:
        if (value is None) != (info.data.get("purpose") is None):
            raise ValueError("choose both a purpose and its decision, or neither")
        return value

    def receipt_filter(self) -> ReceiptFilter:
        whole = self.receipt_id is not None and len(self.receipt_id) == 36
        return ReceiptFilter(
            consent_id=self.consent_id,
            receipt_id=UUID(self.receipt_id) if whole and self.receipt_id else None,
            receipt_prefix=self.receipt_id if not whole else None,
            start=_midnight(self.from_) if self.from_ else None,
            end=_midnight(self.to + timedelta(days=1)) if self.to else None,
            method=self.method,
            language=self.language,
            purpose=self.purpose,
            granted=None if self.decision is None else self.decision == "granted",
        )

    def query(self) -> dict[str, str]:
        """The filled fields as the form sent them, for links to other pages of the result."""
        values = self.model_dump(by_alias=True, exclude_none=True)
        return {k: v.isoformat() if isinstance(v, date) else str(v) for k, v in values.items()}


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


FILTER_FIELDS = ("consent_id", "receipt_id", "from", "to", "method", "language", "purpose",
                 "decision")


def parse_filter(
    params: QueryParams | dict[str, str],
) -> tuple[FilterForm | None, dict[str, str], dict[str, str]]:
    """(the form or None, the values as sent, errors by field)."""
    values = {name: str(params.get(name, ""))[:200] for name in FILTER_FIELDS}
    try:
        return FilterForm.model_validate(values), values, {}
    except ValidationError as exc:
        return None, values, field_errors(exc)


async def filter_context(site: Site) -> dict[str, Any]:
    """What the filter form offers (methods, the site's languages and purposes) and what the
    result tables need to show choices in the banner's order."""
    purposes = await sites.purpose_keys(site)
    return {
        "options": {
            "methods": [(m, METHOD_LABELS[m]) for m in METHODS],
            "languages": [(lang, lang) for lang in site.languages],
            "purposes": [(p, p) for p in purposes],
        },
        "method_names": METHOD_LABELS,
        "purpose_order": purposes,
        "window": consent_log.WINDOW,
    }


@requires("viewer", site=True)
async def search(request: Request, site: Site) -> Response:
    form, values, errors = parse_filter(request.query_params)
    page = None
    after = request.query_params.get("after", "")
    if form is not None:
        try:
            page = await consent_log.search(
                site, form.receipt_filter(), after=Cursor.parse(after) if after else None
            )
        except CmpError as exc:
            errors = {"form": exc.detail}
    base = request.url_for("admin:consents", key=site.key).path
    query = form.query() if form else {}
    return render(request, "admin/consents.html", {
        "site": site,
        "tab": "consents",
        "section": "search",
        "values": values,
        "errors": errors,
        "page": page,
        "paged": bool(after),
        "first_url": f"{base}?{urlencode(query)}" if query else base,
        "next_url": (
            f"{base}?{urlencode({**query, 'after': str(page.next)})}"
            if page and page.next else None
        ),
        "export_query": urlencode(query),
        **await filter_context(site),
    }, 422 if errors else 200)


@requires("viewer", site=True)
async def receipt(request: Request, site: Site) -> Response:
    proof = await consent_log.receipt_proof(site, request.path_params["receipt_id"])
    log = await checkpoints.receipt_proof(site, proof.receipt.receipt_id)
    return render(request, "admin/receipt.html", {
        "site": site, "tab": "consents", "proof": proof, "r": proof.receipt,
        "log": log, "log_verifies": log.verifies(proof.receipt.record_hash),
        "method_names": METHOD_LABELS,
        "purpose_order": _purpose_order(proof.shown.texts if proof.shown else None,
                                        proof.receipt.choices),
    })


def _purpose_order(texts: dict[str, Any] | None, choices: dict[str, bool]) -> list[str]:
    """The purposes in the banner's order (jsonb keeps keys in its own order)."""
    shown = [p["key"] for p in texts["purposes"]] if texts else []
    return [k for k in shown if k in choices] + sorted(k for k in choices if k not in shown)


@requires("viewer", site=True)
async def visitor(request: Request, site: Site) -> Response:
    history = await consent_log.visitor_history(site, request.path_params["consent_id"])
    return render(request, "admin/visitor.html", {
        "site": site, "tab": "consents", "history": history,
        **await filter_context(site),
    })


@requires("privacy", site=True)
async def visitor_json(request: Request, site: Site) -> Response:
    """The visitor's history as a JSON file to send them (audited)."""
    body = await export.visitor_export(
        site, request.path_params["consent_id"], by=request.state.actor
    )
    consent_id = UUID(request.path_params["consent_id"])  # a valid one: it was found
    return Response(body, media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="consent-{consent_id}.json"',
    })


routes = [
    Route("/sites/{key}/consents", search, methods=["GET"], name="consents"),
    Route("/sites/{key}/consents/{receipt_id}", receipt, methods=["GET"], name="receipt"),
    Route("/sites/{key}/visitors/{consent_id}", visitor, methods=["GET"], name="visitor"),
    Route("/sites/{key}/visitors/{consent_id}/json", visitor_json, methods=["POST"],
          name="visitor_json"),
]
