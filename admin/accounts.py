"""Signing in and out, and the staff accounts (owners manage them)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cmp_server.errors import CmpError
from cmp_server.services import staff

from ._pages import render, status_for
from ._security import csrf_ok, requires

__all__ = ["routes"]

LOGIN_FAILED = "The email or the password is wrong."
LOGIN_LIMITED = (
    "Too many failed sign-ins for this account or from this address. Wait 15 minutes and "
    "try again, or ask an owner to check the account."
)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _safe_next(value: object, default: str) -> str:
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
            "next": _safe_next(request.query_params.get("next"), ""), "login_token": token,
        })
        cookies.keep_login_token(page, token)
        return page
    form = await request.form()
    expected = cookies.read_login_token(request)
    email = str(form.get("email", ""))[:254]
    next_url = _safe_next(form.get("next"), dashboard)

    def again(message: str, status: int) -> Response:
        return render(request, "admin/login.html", {
            "error": message, "email": email, "next": next_url,
            "login_token": expected or "",
        }, status)

    if not expected or not await csrf_ok(request, expected):
        return again("The sign-in form had expired. Please try again.", 403)
    limiter = request.app.state.login_limiter
    if not limiter.allowed(email, _client(request)):
        return again(LOGIN_LIMITED, 429)
    account = await staff.authenticate(email, str(form.get("password", "")))
    if account is None:
        limiter.failed(email, _client(request))
        return again(LOGIN_FAILED, 401)
    session = await staff.start_session(account, request.headers.get("user-agent", ""))
    response = RedirectResponse(next_url, 303)
    cookies.sign_in(response, session.id)
    return response


@requires("viewer")
async def logout(request: Request) -> Response:
    await staff.end_session(request.state.actor.session_id)
    response = RedirectResponse(request.url_for("admin:login").path, 303)
    request.app.state.cookies.sign_out(response)
    return response


class NewStaff(BaseModel):
    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    email: str = Field(min_length=3, max_length=254)
    name: str = Field(default="", max_length=200)
    role: Literal["owner", "privacy", "viewer"]
    password: str = Field(min_length=staff.MIN_PASSWORD, max_length=staff.MAX_PASSWORD)


class NewPassword(BaseModel):
    model_config = ConfigDict(frozen=True)

    password: str = Field(min_length=staff.MIN_PASSWORD, max_length=staff.MAX_PASSWORD)


def _field_errors(exc: ValidationError) -> dict[str, str]:
    return {str(e["loc"][0]) if e["loc"] else "form": e["msg"] for e in exc.errors()}


@requires("owner")
async def staff_list(request: Request) -> Response:
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        form = await request.form()
        values = {k: str(form.get(k, "")) for k in ("email", "name", "role")}
        try:
            new = NewStaff.model_validate({**values, "password": str(form.get("password", ""))})
            await staff.create_staff(
                new.email, new.password, new.role, name=new.name, by=request.state.actor
            )
            return RedirectResponse(request.url_for("admin:staff").path, 303)
        except ValidationError as exc:
            errors, status = _field_errors(exc), 422
        except CmpError as exc:
            errors, status = {"email": exc.detail}, status_for(exc)
    return render(request, "admin/staff.html", {
        "accounts": await staff.list_staff(), "roles": staff.ROLES, "errors": errors,
        "values": values,
    }, status)


@requires("viewer")
async def account(request: Request) -> Response:
    """One's own account: change the password (which signs out every session)."""
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await request.form()
        try:
            new = NewPassword.model_validate({"password": str(form.get("password", ""))})
            await staff.change_password(
                request.state.actor.id, new.password, by=request.state.actor
            )
            response = RedirectResponse(request.url_for("admin:login").path, 303)
            request.app.state.cookies.sign_out(response)
            return response
        except ValidationError as exc:
            errors = _field_errors(exc)
    return render(request, "admin/account.html", {"errors": errors}, 422 if errors else 200)


routes = [
    Route("/login", login, methods=["GET", "POST"], name="login"),
    Route("/logout", logout, methods=["POST"], name="logout"),
    Route("/staff", staff_list, methods=["GET", "POST"], name="staff"),
    Route("/account", account, methods=["GET", "POST"], name="account"),
]
