"""The public-only proxy on its own (raw sockets) and under a real plain-http scan."""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scanner import ScanOptions, scan_site
from scanner._proxy import PublicOnlyProxy

LOOPBACK_PUBLIC = (ipaddress.ip_network("127.0.0.1/32"),)  # a test's stand-in for public


class _Plain:
    """A plain-http server on one loopback address that logs the paths it served."""

    def __init__(self, address: str, pages: dict[str, tuple[int, dict[str, str], str]]) -> None:
        self.log: list[str] = []
        plain = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                plain.log.append(self.path)
                status, headers, body = pages.get(self.path, (404, {}, "not found"))
                data = body.replace("__PORT__", str(plain.port)).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "text/html", **headers}.items():
                    self.send_header(name, value.replace("__PORT__", str(plain.port)))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer((address, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def intranet() -> Iterator[_Plain]:
    server = _Plain("127.0.0.2", {"/admin": (200, {}, "<title>Internal</title>")})
    yield server
    server.close()


async def _exchange(proxy: PublicOnlyProxy, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(request)
    try:
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


async def test_tunnels_and_requests_only_to_public_addresses(intranet: _Plain) -> None:
    public = _Plain("127.0.0.1", {"/": (200, {}, "hello")})
    try:
        async with PublicOnlyProxy(LOOPBACK_PUBLIC) as proxy:
            refused = await _exchange(
                proxy, f"CONNECT 127.0.0.2:{intranet.port} HTTP/1.1\r\n\r\n".encode()
            )
            assert refused.startswith(b"HTTP/1.1 403")
            refused = await _exchange(
                proxy, f"GET http://127.0.0.2:{intranet.port}/admin HTTP/1.1\r\n\r\n".encode()
            )
            assert refused.startswith(b"HTTP/1.1 403")
            assert intranet.log == []
            assert proxy.blocked == [
                f"127.0.0.2:{intranet.port}", f"http://127.0.0.2:{intranet.port}/admin"
            ]
            # Allowed: a tunnel carries what it is given; a request is sent in origin form.
            tunnel = await _exchange(
                proxy,
                f"CONNECT 127.0.0.1:{public.port} HTTP/1.1\r\n\r\n"
                "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
            )
            assert tunnel.startswith(b"HTTP/1.1 200 Connection Established\r\n\r\nHTTP/1.0 200")
            assert tunnel.endswith(b"hello")
            plain = await _exchange(
                proxy,
                f"GET http://127.0.0.1:{public.port}/ HTTP/1.1\r\nHost: x\r\n"
                "Proxy-Connection: keep-alive\r\n\r\n".encode(),
            )
            assert plain.startswith(b"HTTP/1.0 200") and plain.endswith(b"hello")
            assert public.log == ["/", "/"]
            for garbage in (b"NONSENSE\r\n\r\n", b"GET ftp://x/ HTTP/1.1\r\n\r\n"):
                answer = await _exchange(proxy, garbage)
                assert answer in (b"", b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                  b"Connection: close\r\n\r\n")
    finally:
        public.close()


async def test_a_name_without_addresses_is_a_failed_load_not_a_refusal() -> None:
    # ".invalid" never resolves (RFC 2606): offline, Chromium's own background hosts look the
    # same, and listing them as refused would bury the real refusals in noise.
    async with PublicOnlyProxy() as proxy:
        for request in (b"CONNECT update.example.invalid:443 HTTP/1.1\r\n\r\n",
                        b"GET http://update.example.invalid/x HTTP/1.1\r\n\r\n"):
            assert (await _exchange(proxy, request)).startswith(b"HTTP/1.1 502")
        assert proxy.blocked == []


@pytest.mark.browser
async def test_a_plain_http_scan_goes_through_and_stays_public(intranet: _Plain) -> None:
    admin = f"http://127.0.0.2:{intranet.port}/admin"
    public = _Plain("127.0.0.1", {
        "/": (200, {}, '<!doctype html><title>Plain</title><img src="/logo.gif" alt="">'
                       f'<iframe src="{admin}" title="x"></iframe><a href="/away">away</a>'),
        "/logo.gif": (200, {"Content-Type": "image/gif"}, "GIF89a"),
        "/away": (302, {"Location": admin}, ""),
    })
    try:
        report = await scan_site(ScanOptions(
            start_url=f"http://127.0.0.1:{public.port}/", max_pages=2, passes=("none",),
            settle=0.2, idle_timeout=0.5, use_sitemap=False, public_only=True,
            public_networks=("127.0.0.1/32",),
        ))
        assert intranet.log == []
        assert admin in report.blocked
        assert {"/", "/logo.gif", "/away"} <= set(public.log)
        assert [p.status for p in report.pages if p.url.endswith(f"{public.port}/")] == [200]
    finally:
        public.close()
