"""A local HTTPS server that answers for any host name: the fixture sites and the vendors.

Chromium reaches it through ``--host-resolver-rules=MAP * 127.0.0.1``: every host the scan
asks for, known or not, resolves to this machine, so a test scan cannot reach the internet.
Routes are registered per (host, path); ``__PORT__`` in a body becomes the server's port.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass(frozen=True)
class Route:
    body: str | bytes = ""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()


Handler = Route | Callable[[str], Route]


class FakeWeb:
    def __init__(self, address: str = "127.0.0.1") -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.log: list[tuple[str, str]] = []  # (host, path?query) of every request served
        self._lock = threading.Lock()
        web = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                web._serve(self)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                web._serve(self)

        class _Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # the browser closing a connection early is not a test failure

        self.server = _Server((address, 0), _Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(FIXTURES / "tls" / "cert.pem", FIXTURES / "tls" / "key.pem")
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeWeb:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, host: str, path: str = "/") -> str:
        return f"https://{host}:{self.port}{path}"

    def add(self, host: str, path: str, handler: Handler) -> None:
        self.routes[(host, path)] = handler

    @property
    def browser_args(self) -> tuple[str, ...]:
        return ("--host-resolver-rules=MAP * 127.0.0.1",)

    def hosts_seen(self) -> set[str]:
        with self._lock:
            return {host for host, _ in self.log}

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        host = (request.headers.get("Host") or "").rsplit(":", 1)[0].lower()
        parts = urlsplit(request.path)
        with self._lock:
            self.log.append((host, request.path))
        handler = self.routes.get((host, parts.path))
        route = handler(request.path) if callable(handler) else handler
        if route is None:
            route = Route("not found", "text/plain", 404)
        body = route.body if isinstance(route.body, bytes) else route.body.encode()
        body = body.replace(b"__PORT__", str(self.port).encode())
        request.send_response(route.status)
        request.send_header("Content-Type", route.content_type)
        request.send_header("Content-Length", str(len(body)))
        request.send_header("Cache-Control", "no-store")
        for name, value in route.headers:
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(body)
