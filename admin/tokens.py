"""API tokens, for owners of every site: the list (each token's scope, sites, expiry, last
use, state), a form to make one (a name, read or write, every site or the sites ticked, an
expiry date within a year) whose answer shows the whole token once, and revoking one
(``cmp_server.services.api_tokens``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cmp_server._utils import utcnow
from cmp_server.errors import NotFound
from cmp_server.services import api_tokens, sites
from cmp_server.services.api_tokens import IssuedToken

from ._forms import UNREFUSED, Form, Refusal, iso_date, save_form, text_of, whole_number
from ._pages import render
from ._security import requires

__all__ = ["routes"]

DEFAULT_DAYS = 90


def _days() -> tuple[date, date]:
    today = utcnow().date()
    return today + timedelta(days=1), today + timedelta(days=365)


class TokenForm(Form):
    name: str = Field(min_length=1, max_length=api_tokens.MAX_NAME)
    scope: Literal["read", "write"]
    every_site: bool
    sites: list[int] = Field(default=[], max_length=10_000)
    expires: Annotated[date, BeforeValidator(lambda v: iso_date(v, *_days()))]


MESSAGES = {
    "scope": "Choose read or write.",
    "every_site": "Choose every site or the sites ticked.",
    "sites": "Choose sites from the list.",
}


async def _page(request: Request, values: dict[str, object], refused: Refusal = UNREFUSED,
                issued: IssuedToken | None = None) -> Response:
    first, last = _days()
    return render(request, "admin/tokens.html", {
        "tokens": await api_tokens.list_tokens(), "sites": await sites.list_sites(),
        "values": values, "errors": refused.errors, "issued": issued,
        "first_day": first.isoformat(), "last_day": last.isoformat(),
        "revoked": request.query_params.get("revoked") == "1",
        "api_base": request.url_for("admin:dashboard").path.rstrip("/") + "/api/v1",
    }, 201 if issued else refused.status)


@requires("owner")
async def tokens(request: Request) -> Response:
    if request.method != "POST":
        default = (utcnow().date() + timedelta(days=DEFAULT_DAYS)).isoformat()
        return await _page(request, {"name": "", "scope": "read", "every_site": "no",
                                     "sites": [], "expires": default})
    form = await request.form()
    chosen = [v for v in form.getlist("sites") if isinstance(v, str)]
    values: dict[str, object] = {
        "name": text_of(form, "name"), "scope": text_of(form, "scope"),
        "every_site": text_of(form, "every_site"), "expires": text_of(form, "expires"),
        "sites": chosen,
    }
    parsed_values = {**values, "every_site": text_of(form, "every_site") == "yes"
                     if text_of(form, "every_site") in ("yes", "no") else None,
                     "sites": [whole_number(v, 9) for v in chosen]}

    async def save(parsed: TokenForm) -> IssuedToken:
        until = datetime.combine(parsed.expires, time(23, 59, 59), UTC)
        return await api_tokens.create_token(
            parsed.name, parsed.scope, None if parsed.every_site else parsed.sites, until,
            by=request.state.actor)

    async def shown_once(issued: IssuedToken) -> Response:
        return await _page(request, {"name": "", "scope": "read", "every_site": "no",
                                     "sites": [], "expires": values["expires"]},
                           issued=issued)

    return await save_form(
        TokenForm, parsed_values, save, done=shown_once,
        again=lambda refused: _page(request, values, refused), messages=MESSAGES,
    )


@requires("owner")
async def token_revoke(request: Request) -> Response:
    token_id = whole_number(request.path_params["token_id"], 9)
    if token_id is None:
        raise NotFound("there is no such API token")
    await api_tokens.revoke(token_id, by=request.state.actor)
    return RedirectResponse(request.url_for("admin:tokens").path + "?revoked=1", 303)


routes = [
    Route("/tokens", tokens, methods=["GET", "POST"], name="tokens"),
    Route("/tokens/{token_id}/revoke", token_revoke, methods=["POST"], name="token_revoke"),
]
