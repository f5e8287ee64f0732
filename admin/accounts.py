"""Signing in and out, and the staff accounts (owners manage them)."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from pydantic import ConfigDict, Field
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cmp_server._utils import forwarded_client
from cmp_server.services import password_reset, staff, two_factor

from ._forms import UNREFUSED, Form, Refusal, save_form, text_of
from ._pages import render
from ._security import csrf_ok, requires

__all__ = ["LOGIN_LIMITED", "client_address", "routes", "safe_next"]

LOGIN_FAILED = "The email or the password is wrong."
LOGIN_LIMITED = (
    "Too many failed sign-ins for this account or from this address. Wait 15 minutes and "
    "try again, or ask an owner to unlock the account."
)


def client_address(request: Request) -> str:
    """The client's address as the public API resolves it: behind a trusted proxy, the
    first untrusted hop of X-Forwarded-For, not the proxy (whose address every client
    shares: twenty failures from anyone would otherwise lock every staff member out)."""
    peer = request.client.host if request.client else None
    trusted = request.app.state.settings.trusted_proxies
    return forwarded_client(peer, request.headers.get("x-forwarded-for", ""), trusted) or (
        "unknown")


def safe_next(value: object, default: str) -> str:
    """Only a path inside the admin: never an address elsewhere."""
    text = value if isinstance(value, str) else ""
    parts = urlsplit(text)
    if parts.scheme or parts.netloc or not text.startswith("/admin") or "\\" in text:
        return default
    return text


async def login(request: Request) -> Response:
    cookies = request.app.state.cookies
    dashboard = request.url_for("admin:dashboard").path
    if request.method == "GET":
        if await cookies.actor(request) is not None:
            return RedirectResponse(dashboard, 303)
        token = cookies.login_token(request)
        page = render(request, "admin/login.html", {
            "next": safe_next(request.query_params.get("next"), ""), "login_token": token,
            "reset": request.query_params.get("reset") == "1",
        })
        cookies.keep_login_token(page, token)
        return page
    form = await request.form()
    expected = cookies.read_login_token(request)
    email = str(form.get("email", ""))[:254]
    next_url = safe_next(form.get("next"), dashboard)

    def again(message: str, status: int) -> Response:
        return render(request, "admin/login.html", {
            "error": message, "email": email, "next": next_url,
            "login_token": expected or "",
        }, status)

    if not expected or not await csrf_ok(request, expected):
        return again("The sign-in form had expired. Please try again.", 403)
    limiter = request.app.state.login_limiter
    if not limiter.allowed(email, client_address(request)):
        return again(LOGIN_LIMITED, 429)
    attempt = await staff.authenticate(email, str(form.get("password", "")))
    if attempt.outcome == "locked":
        return again(LOGIN_LIMITED, 429)
    if attempt.account is None:
        # Per account and address here; a known account also counts on its own row, an
        # unknown email here, so that the two read the same.
        limiter.failed(email, client_address(request), known=attempt.outcome == "wrong")
        return again(LOGIN_FAILED, 401)
    if attempt.account.totp_secret is not None:
        # The password was right; the session starts only after the code (two_factor.py).
        code_page = request.url_for("admin:login_code").path
        response = RedirectResponse(f"{code_page}?next={quote(next_url, safe='')}", 303)
        cookies.begin_second_step(response, attempt.account.id,
                                  two_factor.proof_of(attempt.account))
        return response
    session = await staff.start_session(attempt.account, request.headers.get("user-agent", ""))
    response = RedirectResponse(next_url, 303)
    cookies.sign_in(response, session.id)
    return response


@requires("viewer", enrolment=True)
async def logout(request: Request) -> Response:
    await staff.end_session(request.state.actor.session_id)
    response = RedirectResponse(request.url_for("admin:login").path, 303)
    request.app.state.cookies.sign_out(response)
    return response


class NewPassword(Form):
    model_config = ConfigDict(frozen=True, str_strip_whitespace=False)  # spaces count

    password: str = Field(min_length=staff.MIN_PASSWORD, max_length=staff.MAX_PASSWORD)


class PasswordChange(NewPassword):
    current: str = Field(min_length=1, max_length=staff.MAX_PASSWORD)


async def reset(request: Request) -> Response:
    """A one-time link an owner issued (``password_reset``): set a new password, no session
    needed. The form is protected as the sign-in form is (its own double-submit token)."""
    cookies = request.app.state.cookies
    token = request.path_params["token"]
    email = await password_reset.valid_for(token)  # NotFound: the error page says why
    expected = cookies.read_login_token(request)

    async def page(refused: Refusal = UNREFUSED) -> Response:
        form_token = expected or cookies.login_token(request)
        answer = render(request, "admin/reset.html", {
            "email": email, "errors": refused.errors, "login_token": form_token,
        }, refused.status)
        cookies.keep_login_token(answer, form_token)
        return answer

    if request.method != "POST":
        return await page()
    if not expected or not await csrf_ok(request, expected):
        return await page(Refusal({"form": "The form had expired. Please try again."}, 403))
    form = await request.form()
    return await save_form(
        NewPassword, {"password": text_of(form, "password")},
        lambda new: password_reset.redeem(token, new.password),
        done=lambda _: RedirectResponse(f"{request.url_for('admin:login').path}?reset=1", 303),
        again=page,
    )


@requires("viewer")
async def account(request: Request) -> Response:
    """One's own account: change the password, given the current one (which signs out every
    session)."""

    async def page(refused: Refusal = UNREFUSED) -> Response:
        return render(request, "admin/account.html", {
            "errors": refused.errors,
        }, refused.status)

    if request.method != "POST":
        return await page()

    def signed_out(_: None) -> Response:
        response = RedirectResponse(request.url_for("admin:login").path, 303)
        request.app.state.cookies.sign_out(response)
        return response

    form = await request.form()
    return await save_form(
        PasswordChange, {"current": text_of(form, "current"),
                         "password": text_of(form, "password")},
        lambda new: staff.change_password(request.state.actor.id, new.password,
                                          current=new.current, by=request.state.actor),
        done=signed_out, again=page,
    )


routes = [
    Route("/login", login, methods=["GET", "POST"], name="login"),
    Route("/logout", logout, methods=["POST"], name="logout"),
    Route("/reset/{token}", reset, methods=["GET", "POST"], name="reset"),
    Route("/account", account, methods=["GET", "POST"], name="account"),
]
