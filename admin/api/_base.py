"""What every JSON admin API request passes through: the bearer token (no cookies, so no
CSRF), the token's rate limit, the role its scope gives (read: viewer, write: privacy; each
endpoint needs the role its HTML page needs, ``_security.requires``'s rule) and, under
``/sites/{key}``, the same site check as the HTML admin (``_security.site_for``). Errors are
``{"error": {"code", "message", "field"}}`` with the status the HTML admin's error table
gives (``_pages.status_for``), 401 for a token refused, 403 for a scope too narrow, 429 when
the token's rate is spent."""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Literal, TypeVar

import orjson
from limits import RateLimitItemPerMinute, storage, strategies
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from cmp_server.errors import CmpError, InvalidRequest, MalformedBody, UnsupportedMediaType
from cmp_server.models import Site
from cmp_server.services import api_tokens
from cmp_server.validation import plain_message

from .._pages import status_for
from .._security import site_for

__all__ = ["TokenLimiter", "body", "endpoint", "error", "handlers", "json", "query_int"]

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
Role = Literal["viewer", "privacy"]
SCOPE_OF: dict[str, str] = {"viewer": "read", "privacy": "write"}
MAX_BODY = 256 * 1024


def _default(value: Any) -> Any:
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"{type(value).__name__} is not JSON")


def dump(data: Any) -> bytes:
    return orjson.dumps(data, default=_default,
                        option=orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS)


def json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(dump(data), status, headers=dict(headers or {}),
                    media_type="application/json")


def plain(obj: Any, *extra: str) -> dict[str, Any]:
    """A service's dataclass as a dict, with its named properties too (``pages``...)."""
    assert is_dataclass(obj)
    out = {f.name: getattr(obj, f.name) for f in fields(obj)}
    out.update({name: getattr(obj, name) for name in extra})
    return out


def error(status: int, code: str, message: str, field: str | None = None, *,
          headers: Mapping[str, str] | None = None,
          more: Mapping[str, Any] | None = None) -> Response:
    return json({"error": {"code": code, "message": message, "field": field, **(more or {})}},
                status, headers)


class TokenLimiter:
    """Requests per token and minute, in a moving window (this process: several server
    processes each allow the rate)."""

    def __init__(self, per_minute: int) -> None:
        self.item = RateLimitItemPerMinute(per_minute)
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def retry_after(self, token: str) -> int | None:
        """None when the request may go ahead (and it is counted), else seconds to wait."""
        if self._limiter.hit(self.item, token):
            return None
        reset = self._limiter.get_window_stats(self.item, token).reset_time
        return max(1, math.ceil(reset - time.time()))


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise api_tokens.TokenRefused("send an API token: Authorization: Bearer cmp_…")
    return token.strip()


def endpoint(
    role: Role, *, site: bool = True
) -> Callable[[Callable[..., Awaitable[Response]]], Callable[[Request], Awaitable[Response]]]:
    """The token, its rate, its role and (``site=True``) the path's site, before the view
    ``view(request, actor, site)`` (``view(request, actor)`` without a site)."""

    def decorate(
        view: Callable[..., Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(view)
        async def checked(request: Request) -> Response:
            actor = await api_tokens.authenticate(_bearer(request))
            wait = request.app.state.limiter.retry_after(actor.session_id)
            if wait is not None:
                return error(429, "rate_limited", f"too many requests with this token: try "
                             f"again in {wait} s", headers={"Retry-After": str(wait)})
            request.state.actor = actor
            if not actor.can(role):
                return error(403, "insufficient_scope", f"this needs a {SCOPE_OF[role]} "
                             "token; this one only reads")
            if not site:
                return await view(request, actor)
            loaded: Site = await site_for(actor, request.path_params["key"])
            return await view(request, actor, loaded)

        checked.required_scope = SCOPE_OF[role]  # type: ignore[attr-defined]
        return checked

    return decorate


async def body(request: Request, model: type[M], *, context: dict[str, Any] | None = None,
               extra: Mapping[str, Any] | None = None) -> M:
    """The request's JSON body as ``model`` (a ``ValidationError`` is a 422 by field)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise InvalidRequest(f"the body is larger than {MAX_BODY // 1024} KB")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise MalformedBody("the body is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedBody("the body must be a JSON object")
    return model.model_validate({**data, **(extra or {})}, context=context)


def query_int(request: Request, name: str, maximum: int = 2**31 - 1) -> int | None:
    """A whole number from the query string, at most ``maximum`` (an id's column is 32-bit
    unless it says otherwise); a 422 naming it else."""
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 19
            and int(value) <= maximum):
        raise InvalidRequest(f"{name} must be a whole number up to {maximum}", field=name)
    return int(value)


@dataclass(frozen=True)
class _Handlers:
    @staticmethod
    async def cmp_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CmpError)
        if isinstance(exc, api_tokens.TokenRefused):
            return error(401, exc.code, exc.detail,
                         headers={"WWW-Authenticate": 'Bearer realm="cmp-admin-api"'})
        status = status_for(exc)
        if status >= 500 and status != 503:
            log.error("unmapped domain error %s: %s", type(exc).__name__, exc.detail)
            status = 400
        more = {"keys": list(exc.keys)} if hasattr(exc, "keys") and exc.keys else {}
        return error(status, exc.code, exc.detail, exc.field, more=more)

    @staticmethod
    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ValidationError)
        found = [{"field": ".".join(str(p) for p in e["loc"]) or None,
                  "message": plain_message(e)} for e in exc.errors()[:20]]
        first = found[0] if found else {"field": None, "message": "invalid input"}
        return error(422, "invalid_request", str(first["message"]), first["field"],
                     more={"errors": found})

    @staticmethod
    async def http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        return error(exc.status_code, code, str(exc.detail), headers=exc.headers)


def handlers() -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
    return {CmpError: _Handlers.cmp_error, ValidationError: _Handlers.invalid,
            HTTPException: _Handlers.http}
