"""How `cmp-server serve` holds its connections against slow and oversized request heads.

uvicorn bounds an idle kept-alive connection (``timeout_keep_alive``) and the connections and
requests it takes at once (``limit_concurrency``: past it, a request is answered 503), but it
has no deadline for a request's line and headers: a client that opens a connection and sends
its head a byte at a time (slowloris), or nothing at all, holds the connection for good, and
enough of them hold every slot ``limit_concurrency`` allows, so every real request gets 503.
Nor does its default parser (httptools) bound a head's size.

``HeaderDeadline`` is uvicorn's own protocol with both: a request's head must arrive within
``header_timeout`` seconds of the connection opening (for a later request on a kept-alive
connection, of its first byte) and within ``max_header_bytes``, else the connection is closed.
The request's body is bounded by the app itself (``CMP_BODY_TIMEOUT_SECONDS``, the body
limits). Behind a reverse proxy, give the proxy the same bounds (README, "Production").
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .settings import Settings

__all__ = ["PROTOCOL", "HeaderDeadline", "configure", "uvicorn_options"]

# What uvicorn is given as ``http`` (a string: worker processes import it themselves).
PROTOCOL = "cmp_server._serving:HeaderDeadline"


class _HeadTooLarge(Exception):
    pass


class HeaderDeadline(HttpToolsProtocol):
    header_timeout: float = Settings.model_fields["header_timeout_seconds"].default
    max_header_bytes: int = Settings.model_fields["max_header_bytes"].default

    # When the head in progress began (the loop's clock), None between requests. One sweep
    # per process closes the late ones (``_Sweep``): no timer per request, which cost more
    # than the rest of this class on the consents route.
    _head_since: float | None = None
    _head_bytes = 0
    _too_large = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _Sweep.of(self.loop, self.header_timeout).connections.add(self)
        self._start_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_head()
        sweep = _Sweep.running
        if sweep is not None:
            sweep.connections.discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_since is None and self._idle():
            self._start_head()  # the first byte of a later request on this connection
        super().data_received(data)

    # The parser's callbacks: the head's size is counted as it is parsed. Raising from one
    # stops the parser at once; uvicorn then answers the request as malformed
    # (``send_400_response``), which says 431 instead.
    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_since = None
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if not self._too_large:
            super().send_400_response(msg)
            return
        body = b"Request header fields too large."
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + body
        )
        self.transport.close()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.max_header_bytes:
            self._too_large = True
            self._end_head()
            raise _HeadTooLarge(f"request head over {self.max_header_bytes} bytes")

    def _idle(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _start_head(self) -> None:
        self._head_since, self._head_bytes = self.loop.time(), 0

    def _end_head(self) -> None:
        self._head_since = None

    def _head_too_slow(self) -> None:
        self._head_since = None
        if not self.transport.is_closing():
            self.logger.info("closed a connection whose request head did not arrive in %gs",
                             self.header_timeout)
            self.transport.close()


class _Sweep:
    """The process's open connections, looked over a few times per ``header_timeout``: a
    connection whose head began longer ago than that is closed (so within a quarter of the
    timeout after its deadline, at most a second)."""

    running: _Sweep | None = None

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop, self.timeout = loop, timeout
        self.every = min(max(timeout / 4, 0.05), 1.0)
        self.connections: set[HeaderDeadline] = set()
        self.handle: asyncio.TimerHandle | None = None

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop, timeout: float) -> _Sweep:
        sweep = cls.running
        if sweep is None or sweep.loop is not loop or sweep.timeout != timeout:
            sweep = cls.running = cls(loop, timeout)
        if sweep.handle is None:
            sweep.handle = loop.call_later(sweep.every, sweep.run)
        return sweep

    def run(self) -> None:
        self.handle = None
        late = self.loop.time() - self.timeout
        for connection in [c for c in self.connections
                           if c._head_since is not None and c._head_since <= late]:
            connection._head_too_slow()
        if self.connections and _Sweep.running is self:
            self.handle = self.loop.call_later(self.every, self.run)


def configure(settings: Settings) -> None:
    """Set the protocol's bounds from the settings (in each worker process, before it serves)."""
    HeaderDeadline.header_timeout = settings.header_timeout_seconds
    HeaderDeadline.max_header_bytes = settings.max_header_bytes


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments ``uvicorn.run`` gets from the settings, besides the app's."""
    return {
        "http": PROTOCOL,
        "timeout_keep_alive": settings.keep_alive_seconds,
        "limit_concurrency": settings.max_connections,
        # Only the h11 parser reads it; the same bound as ours, should uvicorn be run with it.
        "h11_max_incomplete_event_size": settings.max_header_bytes,
    }
