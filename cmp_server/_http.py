"""HTTP plumbing shared by the routes: the one table from domain errors to responses, bounded
body reading, the client's address behind trusted proxies, CORS for a site's origins."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit

import orjson
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from . import errors
from ._utils import forwarded_client
from .settings import IPNetwork

log = logging.getLogger(__name__)

# The one table: domain error → status. An error takes the status of the nearest class in its
# hierarchy that is listed (as Starlette looks up exception handlers), so a new subclass gets
# its parent's status and the order of the entries decides nothing.
STATUS: dict[type[errors.CmpError], int] = {
    errors.NotFound: 404,
    errors.NothingPublished: 404,
    errors.InvalidRequest: 400,
    errors.BodyTooLarge: 413,
    errors.BodyTimeout: 408,
    errors.UnsupportedMediaType: 415,
    errors.InvalidConsent: 422,
    errors.OriginNotAllowed: 403,
    errors.Conflict: 409,
    errors.Unavailable: 503,
}


class PreparedResponse(Response):
    """A response whose headers were encoded once (per published version), not per request."""

    def __init__(
        self, body: bytes, raw_headers: list[tuple[bytes, bytes]], status_code: int = 200
    ) -> None:
        self.status_code = status_code
        self.body = body
        self.raw_headers = list(raw_headers)  # a copy: the prepared list is shared
        self.background = None


def encode_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


def json_response(
    content: object, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(content, option=orjson.OPT_UTC_Z),  # datetimes as pydantic writes them
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


def cors_json_response(content: object, status_code: int, origin: str) -> Response:
    """``json_response`` with the CORS headers for ``origin``, the headers encoded by hand: on
    the consents route Starlette's header handling cost more than writing the body."""
    body = orjson.dumps(content, option=orjson.OPT_UTC_Z)
    raw = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    return PreparedResponse(body, [*raw, *_cors_headers(origin)], status_code)


@lru_cache(maxsize=256)  # the origins of a site's visitors: a handful, and checked first
def _cors_headers(origin: str) -> tuple[tuple[bytes, bytes], ...]:
    return ((b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin"))


def error_body(
    code: str, detail: str, status_code: int, headers: dict[str, str] | None = None
) -> Response:
    return json_response({"error": code, "detail": detail}, status_code, headers)


def status_for(exc: errors.CmpError) -> int:
    for cls in type(exc).__mro__:
        status = STATUS.get(cls)
        if status is not None:
            return status
    return 500


async def cmp_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.CmpError)
    status = status_for(exc)
    headers = {"Retry-After": "1"} if status == 503 else None
    response = error_body(exc.code, exc.detail, status, headers)
    cors = request.scope.get("cmp.cors_origin")
    if cors:
        response.headers["Access-Control-Allow-Origin"] = cors
        response.headers["Vary"] = "Origin"
    return response


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:10]
    )
    response = error_body("validation_error", problems, 422)
    cors = request.scope.get("cmp.cors_origin")
    if cors:
        response.headers["Access-Control-Allow-Origin"] = cors
        response.headers["Vary"] = "Origin"
    return response


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    return error_body(
        codes.get(exc.status_code, "http_error"),
        str(exc.detail),
        exc.status_code,
        dict(exc.headers) if exc.headers else None,
    )


async def client_gone_handler(request: Request, exc: Exception) -> Response:
    """The client closed the connection before its body arrived: nothing to answer, and not
    our error. One line at info level, no traceback."""
    log.info("client went away before its request body arrived: %s %s", request.method,
             request.url.path)
    return Response(status_code=400)


async def server_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_body("internal_error", "something went wrong on our side", 500)


async def read_body(request: Request, limit: int, timeout: float = 10.0) -> bytes:
    """At most ``limit`` bytes, all arrived within ``timeout`` seconds. A client that goes
    away mid-body raises Starlette's ``ClientDisconnect`` (``client_gone_handler``)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise errors.BodyTooLarge(f"the body may be at most {limit} bytes")
    chunks = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise errors.BodyTooLarge(f"the body may be at most {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise errors.BodyTimeout(f"the body did not arrive within {timeout:g} s") from None
    return b"".join(chunks)


_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")


def user_agent(request: Request) -> str:
    """The User-Agent as its bytes came: UTF-8, an invalid byte and a control character
    replaced by U+FFFD (Starlette reads header values as latin-1, which turned UTF-8 into
    mojibake such as "KursgÃ¥rden")."""
    for name, value in request.scope["headers"]:
        if name == b"user-agent":
            return _CONTROLS.sub("\ufffd", value.decode("utf-8", "replace"))
    return ""


def require_json_or_text(request: Request) -> None:
    # text/plain is what the embed sends: it needs no CORS preflight.
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in ("application/json", "text/plain"):
        raise errors.UnsupportedMediaType("send the receipt as application/json or text/plain")


def parse_json(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise errors.MalformedBody(f"the body is not valid JSON: {exc}") from None


def client_ip(request: Request, trusted: Iterable[IPNetwork]) -> str | None:
    """The client's address behind trusted proxies (``_utils.forwarded_client``)."""
    peer = request.client.host if request.client else None
    return forwarded_client(peer, request.headers.get("x-forwarded-for", ""), trusted)


def origin_host(request: Request) -> str | None:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return None
    return _host_of(origin)


@lru_cache(maxsize=1024)  # a site's visitors come from a handful of origins
def _host_of(origin: str) -> str | None:
    try:
        return urlsplit(origin).hostname
    except ValueError:
        return None
