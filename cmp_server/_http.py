"""HTTP plumbing shared by the routes: the one table from domain errors to responses, bounded
body reading, the client's address behind trusted proxies, CORS for a site's origins."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from urllib.parse import urlsplit

import orjson
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope

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


def cors_json_answer(
    content: object, status_code: int, origin: str
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """A JSON answer's status, raw headers and body, with the CORS headers for ``origin``,
    the headers encoded by hand: on the consents route Starlette's header handling cost more
    than writing the body."""
    body = orjson.dumps(content, option=orjson.OPT_UTC_Z)
    raw = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    return status_code, [*raw, *_cors_headers(origin)], body


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


async def read_body(receive: Receive, declared: str | None, limit: int,
                    timeout: float = 10.0) -> bytes:
    """At most ``limit`` bytes, all arrived within ``timeout`` seconds. A client that goes
    away mid-body raises Starlette's ``ClientDisconnect`` (``client_gone_handler``).
    ``declared``: the request's Content-Length, refused at once when over the limit."""
    if declared and declared.isdigit() and int(declared) > limit:
        raise errors.BodyTooLarge(f"the body may be at most {limit} bytes")
    chunks = []
    size = 0
    async with _deadlines.watch(timeout) as late:
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    raise ClientDisconnect()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise errors.BodyTooLarge(f"the body may be at most {limit} bytes")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
        except asyncio.CancelledError:
            if late():
                raise errors.BodyTimeout(
                    f"the body did not arrive within {timeout:g} s"
                ) from None
            raise
    return b"".join(chunks)


class _Deadlines:
    """The tasks reading a body, each with the time its body must have arrived by. One
    sweep a second cancels those past it, and the reader turns that cancellation into
    ``BodyTimeout``, as ``asyncio.timeout`` would: without a timer armed and disarmed per
    request (``asyncio.timeout`` cost about 4 us of a receipt's 100). The sweep runs while
    some body is being read and ends when none is."""

    SWEEP_SECONDS = 1.0

    def __init__(self) -> None:
        self._reading: dict[asyncio.Task[object], _Watch] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def watch(self, timeout: float) -> _Watch:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        watch = _Watch(self, task, loop.time() + timeout)
        if self._sweeper is None or self._sweeper.done() or self._sweeper.get_loop() is not loop:
            self._reading.clear()  # another loop's (tests): its tasks are gone with it
            self._sweeper = loop.create_task(self._sweep())
        return watch

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while self._reading:
            await asyncio.sleep(self.SWEEP_SECONDS)
            now = loop.time()
            for task, watch in list(self._reading.items()):
                if watch.deadline <= now and not watch.fired:
                    watch.fired = True
                    task.cancel()


class _Watch:
    __slots__ = ("deadlines", "task", "deadline", "fired", "cancelling")

    def __init__(self, deadlines: _Deadlines, task: asyncio.Task[object], deadline: float):
        self.deadlines, self.task, self.deadline = deadlines, task, deadline
        self.fired = False
        self.cancelling = task.cancelling()

    async def __aenter__(self) -> Callable[[], bool]:
        self.deadlines._reading[self.task] = self
        return self._late

    async def __aexit__(self, *exc: object) -> None:
        self.deadlines._reading.pop(self.task, None)

    def _late(self) -> bool:
        """Whether the sweep cancelled the task, and nothing else did (then the cancellation
        is taken back, as ``asyncio.timeout`` does)."""
        return self.fired and self.task.uncancel() <= self.cancelling


_deadlines = _Deadlines()


_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")


def user_agent(raw: bytes | None) -> str:
    """The User-Agent as its bytes came: UTF-8, an invalid byte and a control character
    replaced by U+FFFD (Starlette reads header values as latin-1, which turned UTF-8 into
    mojibake such as "KursgÃ¥rden")."""
    if not raw:
        return ""
    return _CONTROLS.sub("\ufffd", raw.decode("utf-8", "replace"))


def first_headers(scope: Scope, names: frozenset[bytes]) -> dict[bytes, bytes]:
    """The first value of each of ``names`` (lower-case), raw, in one pass over the
    request's headers: what Starlette's ``Headers`` finds, without a scan per lookup."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in names and name not in found:
            found[name] = value
    return found


def require_json_or_text(content_type: str) -> None:
    # text/plain is what the embed sends: it needs no CORS preflight.
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in ("application/json", "text/plain"):
        raise errors.UnsupportedMediaType("send the receipt as application/json or text/plain")


def parse_json(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise errors.MalformedBody(f"the body is not valid JSON: {exc}") from None


def client_ip(scope: Scope, forwarded_for: str, trusted: Iterable[IPNetwork]) -> str | None:
    """The client's address behind trusted proxies (``_utils.forwarded_client``)."""
    client = scope.get("client")
    return forwarded_client(client[0] if client else None, forwarded_for, trusted)


def origin_host(origin: str | None) -> str | None:
    if not origin or origin == "null":
        return None
    return _host_of(origin)


@lru_cache(maxsize=1024)  # a site's visitors come from a handful of origins
def _host_of(origin: str) -> str | None:
    try:
        return urlsplit(origin).hostname
    except ValueError:
        return None
