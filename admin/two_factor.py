"""Two-factor sign-in in the admin (``cmp_server.services.two_factor``): the second step of
signing in, and one's own enrolment page (QR code, confirm with a code, recovery codes shown
once; then turn off, or new recovery codes).

The QR code is drawn here, on the server, as an SVG data URI (segno): the page makes no request
elsewhere, and the admin's CSP (``img-src 'self' data:``) lets it show. The secret is shown
only while enrolling.
"""

from __future__ import annotations

import segno
from pydantic import ConfigDict, Field
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cmp_server.services import staff, two_factor

from ._forms import UNREFUSED, Form, Refusal, save_form, text_of
from ._pages import render
from ._security import csrf_ok, requires
from .accounts import LOGIN_LIMITED, client_address, safe_next

__all__ = ["routes"]

CODE_FAILED = "That code is wrong or was already used. Enter the newest code from your app, " \
    "or one of your recovery codes."


class CodeForm(Form):
    code: str = Field(min_length=6, max_length=64)


class TurnOff(CodeForm):
    model_config = ConfigDict(frozen=True, str_strip_whitespace=False)  # spaces count
    password: str = Field(min_length=1, max_length=staff.MAX_PASSWORD)


MESSAGES = {"code": "Enter the 6-digit code from your app."}


def _sealer(request: Request) -> two_factor.Sealer:
    sealer: two_factor.Sealer = request.app.state.sealer
    return sealer


async def login_code(request: Request) -> Response:
    """The second step of signing in: a code from the app, or a recovery code. Limited and
    counted as the password step is: per account and address in this process, and on the
    account's row towards its lock."""
    cookies = request.app.state.cookies
    login = request.url_for("admin:login").path
    pending = cookies.second_step(request)
    account = await two_factor.pending_account(*pending) if pending else None
    if account is None:  # no password step, or it expired (5 minutes), or it is void
        return RedirectResponse(login, 303)
    dashboard = request.url_for("admin:dashboard").path
    form = await request.form() if request.method == "POST" else None
    next_url = safe_next(form.get("next") if form else request.query_params.get("next"),
                         dashboard)
    token = cookies.login_token(request)

    def page(error: str = "", status: int = 200) -> Response:
        answer = render(request, "admin/login_code.html", {
            "error": error, "next": next_url, "login_token": token,
        }, status)
        cookies.keep_login_token(answer, token)
        return answer

    if form is None:
        return page()
    expected = cookies.read_login_token(request)
    if not expected or not await csrf_ok(request, expected):
        return page("The form had expired. Please try again.", 403)
    limiter = request.app.state.login_limiter
    address = client_address(request)
    if not limiter.allowed(account.email, address) or staff.is_locked(account):
        return page(LOGIN_LIMITED, 429)
    factor = await two_factor.check(account, text_of(form, "code"), _sealer(request))
    if factor is None:
        limiter.failed(account.email, address, known=True)
        await staff.count_failure(account, step="code")
        return page(CODE_FAILED, 401)
    await staff.clear_failures(account)
    session = await staff.start_session(account, request.headers.get("user-agent", ""),
                                        second_factor=factor)
    response = RedirectResponse(next_url, 303)
    cookies.sign_in(response, session.id)
    cookies.end_second_step(response)
    return response


async def _page(request: Request, refused: Refusal = UNREFUSED, *,
                codes: list[str] | None = None, form: str = "") -> Response:
    actor = request.state.actor
    status = await two_factor.status(actor.id)
    context: dict[str, object] = {
        "status": status, "codes": codes, "errors": refused.errors, "refused_form": form,
        "required": actor.must_enrol,
    }
    if not status.enabled:
        enrolment = await two_factor.begin(actor.id, _sealer(request))
        context["enrolment"] = enrolment
        context["qr"] = segno.make(enrolment.uri, error="m").svg_data_uri(
            scale=5, border=4, dark="#111", light="#fff")
    return render(request, "admin/two_factor.html", context, refused.status)


@requires("viewer", enrolment=True)
async def enrol(request: Request) -> Response:
    """GET: one's two-factor sign-in, or its enrolment. POST: confirm the enrolment with a code;
    the answer shows the recovery codes, once (never a redirect to a page that could again)."""
    if request.method != "POST":
        return await _page(request)
    form = await request.form()
    actor = request.state.actor

    async def shown(codes: list[str]) -> Response:
        # The account's own Actor still says "must enrol" for this request: it is done now.
        request.state.actor = staff.Actor(
            actor.id, actor.email, actor.name, actor.role, actor.session_id, actor.csrf_token,
            True, actor.sites, False)
        return await _page(request, codes=codes)

    return await save_form(
        CodeForm, {"code": text_of(form, "code")},
        lambda c: two_factor.confirm(actor.id, c.code, _sealer(request), by=actor),
        done=shown, again=lambda refused: _page(request, refused, form="enrol"),
        messages=MESSAGES,
    )


@requires("viewer")
async def turn_off(request: Request) -> Response:
    form = await request.form()
    actor = request.state.actor
    return await save_form(
        TurnOff, {"code": text_of(form, "code"), "password": text_of(form, "password")},
        lambda f: two_factor.turn_off(actor.id, f.password, f.code, _sealer(request),
                                      by=actor),
        done=lambda _: RedirectResponse(request.url_for("admin:two_factor").path, 303),
        again=lambda refused: _page(request, refused, form="off"), messages=MESSAGES,
    )


@requires("viewer")
async def new_codes(request: Request) -> Response:
    form = await request.form()
    actor = request.state.actor

    async def shown(codes: list[str]) -> Response:
        return await _page(request, codes=codes)

    return await save_form(
        CodeForm, {"code": text_of(form, "code")},
        lambda c: two_factor.new_recovery_codes(actor.id, c.code, _sealer(request), by=actor),
        done=shown, again=lambda refused: _page(request, refused, form="codes"),
        messages=MESSAGES,
    )


routes = [
    Route("/login/code", login_code, methods=["GET", "POST"], name="login_code"),
    Route("/account/two-factor", enrol, methods=["GET", "POST"], name="two_factor"),
    Route("/account/two-factor/off", turn_off, methods=["POST"], name="two_factor_off"),
    Route("/account/two-factor/codes", new_codes, methods=["POST"], name="two_factor_codes"),
]
