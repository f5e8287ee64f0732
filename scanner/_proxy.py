"""The proxy a public-only scan's browser goes through: it connects only to public addresses.

A server-requested scan must not let a public page reach the scanning server's own network,
whether by an embed, a frame, a link, a redirect or a WebSocket. Playwright's request routing
sees only the first URL of a redirect chain, so the check sits where every connection passes:
Chromium is started with this proxy (and with loopback proxied too, which Chromium otherwise
bypasses). For each tunnel (``CONNECT``, used for https and WebSockets) or plain-http request,
the proxy resolves the host itself, refuses it unless every address is public, and connects
to the address it checked, so an answer that changes between check and connection (DNS
rebinding) cannot slip through either.

Plain http gets one request per connection (``Connection: close``): a kept-alive connection
could carry the next request to another host past the check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from types import TracebackType
from urllib.parse import urlsplit

from .errors import UnresolvableTargetError
from .targets import IPNetwork, first_not_public, resolve

__all__ = ["PublicOnlyProxy"]

log = logging.getLogger(__name__)

_HEAD_LIMIT = 64 * 1024
_TIMEOUT = 30.0
_FORBIDDEN = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_BAD = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_UNRESOLVED = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_HOP_BY_HOP = (b"proxy-connection", b"connection", b"keep-alive", b"proxy-authorization")


class _Unresolvable(Exception):
    """A host name without addresses."""


class PublicOnlyProxy:
    """``async with PublicOnlyProxy() as proxy:`` then launch Chromium with
    ``proxy.browser_args``. ``blocked`` lists what was refused (a URL, or ``host:port`` for a
    tunnel), in order. ``public_networks`` count as public all the same."""

    def __init__(self, public_networks: Iterable[IPNetwork] = ()) -> None:
        self._public_networks = tuple(public_networks)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.blocked: list[str] = []
        self.port = 0

    async def __aenter__(self) -> PublicOnlyProxy:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", 0, limit=_HEAD_LIMIT
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    @property
    def browser_args(self) -> tuple[str, ...]:
        return (
            f"--proxy-server=http://127.0.0.1:{self.port}",
            "--proxy-bypass-list=<-loopback>",  # Chromium bypasses proxies for loopback
            "--disable-quic",  # QUIC would not go through the proxy
            "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        upstream: asyncio.StreamWriter | None = None
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _TIMEOUT)
            request_line, _, rest = head.partition(b"\r\n")
            method, target, version = request_line.decode("latin-1").split(" ", 2)
            if method == "CONNECT":
                host, port, label, first = *_host_port(target, 443), target, b""
            else:
                url = urlsplit(target)
                if url.scheme != "http" or not url.hostname:
                    writer.write(_BAD)
                    return
                host, port, label = url.hostname, url.port or 80, target
                path = (url.path or "/") + (f"?{url.query}" if url.query else "")
                first = f"{method} {path} {version}\r\n".encode("latin-1") + _close(rest)
            try:
                address = await self._public_address(host, port)
            except _Unresolvable:  # a failed load, not a refusal
                writer.write(_UNRESOLVED)
                return
            if address is None:
                self.blocked.append(label)
                log.info("scan: refused %s (not a public address)", label)
                writer.write(_FORBIDDEN)
                return
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(address, port), _TIMEOUT
            )
            upstream = up_writer
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            else:
                up_writer.write(first)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError):
            pass  # a broken or malformed connection: closed below, the browser sees an error
        finally:
            self._connections.discard(task)
            for stream in (upstream, writer):
                if stream is not None:
                    stream.close()

    async def _public_address(self, host: str, port: int) -> str | None:
        """The address to connect to, if every address of ``host`` is public; None if one is
        not. Raises ``_Unresolvable`` for a name without addresses: offline, say, Chromium's
        own update and sign-in hosts, which are no refusal to report."""
        try:
            addresses = await resolve(host, port)
        except UnresolvableTargetError as exc:
            raise _Unresolvable(host) from exc
        if first_not_public(addresses, self._public_networks) is not None:
            return None
        return addresses[0].split("%", 1)[0]


def _host_port(authority: str, default: int) -> tuple[str, int]:
    host, sep, port = authority.rpartition(":")
    if not sep or host.endswith(":"):  # no port, or a bare IPv6 address
        return authority.strip("[]"), default
    return host.strip("[]"), int(port)


def _close(headers: bytes) -> bytes:
    """The request's headers without hop-by-hop ones, asking the server to close after it."""
    kept = [
        line for line in headers.split(b"\r\n")
        if line and line.split(b":", 1)[0].strip().lower() not in _HOP_BY_HOP
    ]
    return b"\r\n".join([*kept, b"Connection: close", b"", b""])


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
