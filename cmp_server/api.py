"""The public, embed-facing API (``/v1``). Routes parse and answer; services decide."""

from __future__ import annotations

import json
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from . import errors
from ._http import (
    PreparedResponse,
    client_ip,
    cors_json_answer,
    encode_headers,
    first_headers,
    json_response,
    origin_host,
    parse_json,
    read_body,
    require_json_or_text,
    user_agent,
)
from .schemas import ReceiptHistoryOut, ReceiptIn, ReceiptView
from .services.appearance import logo_file
from .services.checkpoints import checkpoint_of_size, latest_checkpoint
from .services.configs import ConfigCache, Published
from .services.receipts import draft_receipt, receipt_history
from .services.signing import list_keys
from .services.sites import get_site
from .services.writer import ReceiptWriter
from .settings import Settings

__all__ = ["PublishedFastPath", "routes"]

# Browsers may reuse a config for a minute, and for a day while they revalidate in the background.
CONFIG_CACHE_CONTROL = "public, max-age=60, stale-while-revalidate=86400"
SCRIPT_CACHE_CONTROL = "public, max-age=300, stale-while-revalidate=86400"


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _configs(request: Request) -> ConfigCache:
    cache: ConfigCache = request.app.state.configs
    return cache


def _not_modified(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    return if_none_match.strip() == "*" or etag in (t.strip() for t in if_none_match.split(","))


class _Prepared:
    """Encoded headers of the config and the script, per published version."""

    def __init__(self, published: Published) -> None:
        config = {
            "ETag": published.etag,
            "Cache-Control": CONFIG_CACHE_CONTROL,
            "Access-Control-Allow-Origin": "*",
        }
        self.config_304 = encode_headers(config)
        self.config_200 = encode_headers(
            {
                **config,
                "Content-Type": "application/json",
                "Content-Length": str(len(published.body)),
            }
        )
        script = {
            "ETag": published.script_etag,
            "Cache-Control": SCRIPT_CACHE_CONTROL,
            "Cross-Origin-Resource-Policy": "cross-origin",
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
        }
        self.script_304 = encode_headers(script)
        typed = {**script, "Content-Type": "text/javascript; charset=utf-8"}
        self.script_200 = encode_headers({**typed, "Content-Length": str(len(published.script))})
        self.script_gzip = encode_headers(
            {**typed, "Content-Encoding": "gzip", "Content-Length": str(len(published.script_gzip))}
        )


_prepared: dict[str, _Prepared] = {}


def _prepare(published: Published) -> _Prepared:
    prepared = _prepared.get(published.content_hash)
    if prepared is None:
        if len(_prepared) > 1024:
            _prepared.clear()
        prepared = _prepared[published.content_hash] = _Prepared(published)
    return prepared


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


def _config_answer(published: Published, if_none_match: str | None) -> Answer:
    prepared = _prepare(published)
    if _not_modified(if_none_match, published.etag):
        return 304, prepared.config_304, b""
    return 200, prepared.config_200, published.body


def _script_answer(
    published: Published, if_none_match: str | None, accept_encoding: str | None
) -> Answer:
    prepared = _prepare(published)
    if _not_modified(if_none_match, published.script_etag):
        return 304, prepared.script_304, b""
    if _accepts_gzip(accept_encoding):
        return 200, prepared.script_gzip, published.script_gzip
    return 200, prepared.script_200, published.script


def _accepts_gzip(accept_encoding: str | None) -> bool:
    """RFC 9110, 12.5.3: gzip (or ``*``) listed with a weight above 0; ``gzip;q=0`` refuses
    it, whatever ``*`` says."""
    weights: dict[str, float] = {}
    for item in (accept_encoding or "").split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights.setdefault(coding.lower(), weight)
    if "gzip" in weights:
        return weights["gzip"] > 0
    return weights.get("*", 0.0) > 0


async def config(request: Request) -> Response:
    published = await _configs(request).latest(request.path_params["site_key"])
    status, headers, body = _config_answer(published, request.headers.get("if-none-match"))
    return PreparedResponse(body, headers, status)


async def script(request: Request) -> Response:
    published = await _configs(request).latest(request.path_params["site_key"])
    status, headers, body = _script_answer(
        published, request.headers.get("if-none-match"), request.headers.get("accept-encoding")
    )
    return PreparedResponse(body, headers, status)


class PublishedFastPath:
    """The two public routes taken on every page view and every choice, without the router
    and the exception layer in front of them:

    - ``GET /v1/sites/{key}/config`` and ``…/cmp.js`` answered straight from the config
      cache when it holds the site's version fresh: the same answer as the routes above
      (``_config_answer``, ``_script_answer``) for what is a static byte string per
      published version;
    - ``POST /v1/sites/{key}/consents`` (``_record_consent``), its errors answered by the
      app's own handlers (``_answer_error``), the same table the routed requests use.

    Anything else (another path or method, a miss, an expired entry) goes on to the app
    unchanged, where the routes and the one error table answer it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(_PREFIX):
            key, _, leaf = path[len(_PREFIX):].partition("/")
            method = scope["method"]
            if method == "POST" and leaf == "consents" and key:
                scope["path_params"] = {"site_key": key}
                try:
                    status, raw, payload = await _record_consent(scope, receive)
                except Exception as exc:
                    await _answer_error(scope, receive, send, exc)
                    return
                await send({"type": "http.response.start", "status": status, "headers": raw})
                await send({"type": "http.response.body", "body": payload})
                return
            if method == "GET" and leaf in ("config", "cmp.js"):
                cache: ConfigCache = scope["app"].state.configs
                published = cache.fresh(key)
                if published is not None:
                    found = _headers(scope, leaf == "cmp.js")
                    status, headers, body = (
                        _config_answer(published, found[0]) if leaf == "config"
                        else _script_answer(published, *found)
                    )
                    await send({"type": "http.response.start", "status": status,
                                "headers": headers})
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)


_PREFIX = "/v1/sites/"


async def _answer_error(scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
    """Answer ``exc`` with the app's handler for its nearest class, as the exception layer
    would; what only the catch-all would answer (a bug: a 500) goes up to the server-error
    layer unchanged, which logs it with its traceback."""
    handlers = scope["app"].exception_handlers
    for cls in type(exc).__mro__:
        if cls is Exception:
            break
        handler = handlers.get(cls)
        if handler is not None:
            response = await handler(Request(scope, receive), exc)
            await response(scope, receive, send)
            return
    raise exc


def _headers(scope: Scope, encoding: bool) -> tuple[str | None, str | None]:
    """If-None-Match and (for the script) Accept-Encoding, as Starlette's Headers read them:
    the first of each, latin-1."""
    if_none_match = accept_encoding = None
    for name, value in scope["headers"]:
        if name == b"if-none-match" and if_none_match is None:
            if_none_match = value.decode("latin-1")
        elif encoding and name == b"accept-encoding" and accept_encoding is None:
            accept_encoding = value.decode("latin-1")
    return if_none_match, accept_encoding


def _allowed_origin(scope: Scope, origin: str | None, published: Published) -> str | None:
    """The request's Origin if it is one of the site's domains, None if it sent none."""
    host = origin_host(origin)
    if host is None or origin is None:
        return None
    # Readable even when refused, so the embed on a misconfigured site sees a final 403 and
    # drops the receipt instead of retrying what looks to it like a network failure.
    scope["cmp.cors_origin"] = origin
    if not published.site.allows_origin(host):
        raise errors.OriginNotAllowed(f"origin {host!r} is not one of the site's domains")
    return origin


def _required_origin(scope: Scope, origin: str | None, published: Published) -> str:
    allowed = _allowed_origin(scope, origin, published)
    if allowed is None:
        raise errors.OriginNotAllowed("an Origin header from one of the site's domains is needed")
    return allowed


def _cors(origin: str | None) -> dict[str, str]:
    if origin is None:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


async def preflight(request: Request) -> Response:
    published = await _configs(request).latest(request.path_params["site_key"])
    origin = _required_origin(request.scope, request.headers.get("origin"), published)
    return Response(
        status_code=204,
        headers={
            **_cors(origin),
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "86400",
        },
    )


def _require_utf8(content_type: str) -> None:
    """JSON is UTF-8 (RFC 8259): a body declared in another charset is not what it says."""
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise errors.UnsupportedMediaType(f"send the receipt in UTF-8, not {charset!r}")


def _receipt_json(body: bytes) -> object:
    try:
        return parse_json(body)
    except errors.MalformedBody as malformed:
        # orjson refuses an escaped lone surrogate ("\ud800"), which is valid JSON text: read
        # it with the standard parser, so that ReceiptIn refuses the value with a 422 as it
        # does a NUL and the other values the databases do not store alike.
        try:
            return json.loads(body.decode("utf-8"))
        except ValueError:
            raise malformed from None


_CONSENT_HEADERS = frozenset(
    (b"origin", b"content-type", b"content-length", b"user-agent", b"x-forwarded-for")
)


class RecordConsent:
    """``POST /v1/sites/{key}/consents``, a plain ASGI app behind the router (a class, as
    Starlette wraps a plain function in a ``Request``): the one route that takes a body on
    every visitor's choice, so it reads the five headers it needs in one pass and sends its
    answer itself, without a ``Request`` or a ``Response`` per receipt. Errors go up to the
    app's one error table as from any route (``_http.STATUS``). ``PublishedFastPath`` takes
    these requests before the router in the app; the route stays for an app without it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, raw, payload = await _record_consent(scope, receive)
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": payload})


async def _record_consent(
    scope: Scope, receive: Receive
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    state = scope["app"].state
    settings: Settings = state.settings
    configs: ConfigCache = state.configs
    headers = first_headers(scope, _CONSENT_HEADERS)
    site_key = scope["path_params"]["site_key"]
    # A fresh cache hit needs no coroutine (two of them cost as much as reading the body).
    latest = configs.fresh(site_key) or await configs.latest(site_key)
    origin = headers.get(b"origin")
    allowed = _required_origin(scope, origin.decode("latin-1") if origin else None, latest)
    content_type = headers.get(b"content-type", b"").decode("latin-1")
    require_json_or_text(content_type)
    _require_utf8(content_type)
    declared = headers.get(b"content-length")
    body = await read_body(
        receive,
        declared.decode("latin-1") if declared else None,
        settings.max_body_bytes,
        settings.body_timeout_seconds,
    )
    receipt = ReceiptIn.model_validate(_receipt_json(body))
    published = (
        latest if latest.number == receipt.config_version
        else await configs.version(latest.site.key, receipt.config_version)
    )
    forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1")
    draft = draft_receipt(
        receipt,
        published,
        user_agent=user_agent(headers.get(b"user-agent")),
        client_ip=client_ip(scope, forwarded, settings.trusted_proxies),
    )
    writer: ReceiptWriter = state.writer
    stored = await writer.submit(draft)
    # ReceiptOut's fields (the OpenAPI document's), written by orjson directly: a pydantic
    # model and dump per receipt cost more than the rest of the response.
    out = {
        "receipt_id": stored.receipt_id,
        "consent_id": stored.consent_id,
        "recorded_at": stored.recorded_at,
        "expires_at": stored.expires_at,
    }
    return cors_json_answer(out, 201, allowed)


async def consent_history(request: Request) -> Response:
    published = await _configs(request).latest(request.path_params["site_key"])
    origin = _allowed_origin(request.scope, request.headers.get("origin"), published)
    try:
        consent_id = UUID(request.path_params["consent_id"])
    except ValueError:
        raise errors.ConsentNotFound("no receipts for this consent id") from None
    rows = await receipt_history(published.site.id, consent_id)
    out = ReceiptHistoryOut(
        receipts=[ReceiptView.model_validate(row, from_attributes=True) for row in rows]
    )
    headers = {**_cors(origin), "Cache-Control": "no-store"}
    return json_response(out.model_dump(mode="json"), 200, headers)


async def declaration(request: Request) -> Response:
    published = await _configs(request).latest(request.path_params["site_key"])
    language, body = published.declaration(request.query_params.get("lang"))
    headers = {
        "Cache-Control": CONFIG_CACHE_CONTROL,
        "Access-Control-Allow-Origin": "*",
        "ETag": f'"{published.content_hash[:32]}-{language}"',
    }
    return Response(body, 200, headers, media_type="application/json")


async def checkpoints(request: Request) -> Response:
    """The site's latest signed checkpoint, or (``?size=N``) the one of tree size N: for
    anyone to keep copies of (issue 21). A query not a number is a 400, never a 500."""
    site = await get_site(request.path_params["site_key"])
    size = request.query_params.get("size")
    if size is None:
        found = await latest_checkpoint(site)
    else:
        if not size.isdigit() or len(size) > 18:
            raise errors.InvalidRequest("size must be a tree size (a whole number)",
                                        field="size")
        found = await checkpoint_of_size(site, int(size))
    headers = {"Access-Control-Allow-Origin": "*",
               "Cache-Control": "public, max-age=31536000, immutable" if size else "no-cache"}
    return json_response(found.as_json(), 200, headers)


async def public_keys(request: Request) -> Response:
    """Every checkpoint signing key's public half, current and retired."""
    keys = [
        {"key_id": k.key_id, "public_key": k.public_key, "fingerprint": k.fingerprint,
         "algorithm": "ed25519", "created_at": k.created_at, "retired_at": k.retired_at,
         "endorsed_by": k.endorsed_by or None, "endorsement": k.endorsement or None}
        for k in await list_keys()
    ]
    return json_response({"keys": keys}, 200,
                         {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-cache"})


# A logo's URL names its content (its SHA-256): cached for a year, never revalidated.
LOGO_CACHE_CONTROL = "public, max-age=31536000, immutable"


async def logo(request: Request) -> Response:
    """A banner logo staff uploaded (``services/appearance.py``), from our own origin. The type
    is the one read from its bytes, and the browser is told not to guess another."""
    found = await logo_file(request.path_params["file"])
    headers = {
        "Cache-Control": LOGO_CACHE_CONTROL,
        "ETag": found.etag,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "Access-Control-Allow-Origin": "*",
    }
    if _not_modified(request.headers.get("if-none-match"), found.etag):
        return Response(None, 304, headers)
    return Response(found.data, 200, headers, media_type=found.media_type)


routes = [
    Route("/v1/keys", public_keys, methods=["GET"]),
    Route("/v1/sites/{site_key}/checkpoints", checkpoints, methods=["GET"]),
    Route("/v1/sites/{site_key}/config", config, methods=["GET"]),
    Route("/v1/sites/{site_key}/cmp.js", script, methods=["GET"]),
    Route("/v1/sites/{site_key}/consents", RecordConsent(), methods=["POST"]),
    Route("/v1/sites/{site_key}/consents", preflight, methods=["OPTIONS"]),
    Route("/v1/sites/{site_key}/consents/{consent_id}", consent_history, methods=["GET"]),
    Route("/v1/sites/{site_key}/consents/{consent_id}", preflight, methods=["OPTIONS"]),
    Route("/v1/sites/{site_key}/declaration", declaration, methods=["GET"]),
    Route("/v1/logos/{file}", logo, methods=["GET"]),
]
