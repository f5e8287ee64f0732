"""The servers the browser tests talk to, each on its own port of 127.0.0.1:

- ``CmpServer``: the real app (``cmp_server.app.create_app``) under uvicorn in a thread, with a
  real SQLite file; coroutines (services) run on its loop, receipts are read back with sqlite3.
- ``HostServer``: the customer's site, serving pages the tests register, and recording requests.
- ``VendorServer``: the third parties (Google, Meta, HubSpot, ...) of automatic blocking's
  tests, under their own host names, recording every request with its host.
- ``SwitchProxy``: a TCP forwarder in front of the CMP server that can be switched off, to take
  the server "down" for the browser without stopping the app.

The host site and the proxy can also speak TLS (``tls_context``: a throwaway self-signed
certificate for ``site.test``, ``*.site.test`` and ``cmp.test``; the browser context ignores
certificate errors), for what only happens on https pages.

Chromium reaches them by name (``site.test``, ``a.site.test``, ``cmp.test``, the vendors'
domains in ``VENDOR_DOMAINS`` and their subdomains) through ``--host-resolver-rules``: nothing
leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import shutil
import socket
import sqlite3
import ssl
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import uvicorn

from cmp_server.app import create_app
from cmp_server.models import ConsentReceipt
from cmp_server.settings import Settings

T = TypeVar("T")

HOST = "site.test"
CMP_HOST = "cmp.test"
# The vendors emulated by tests/embed/vendors.py (and a widget no rule names).
VENDOR_DOMAINS = (
    "googletagmanager.com", "google-analytics.com", "google.com", "facebook.net", "facebook.com",
    "hs-scripts.com", "hs-analytics.net", "mouseflow.com", "hotjar.com", "licdn.com",
    "linkedin.com", "youtube.com", "widget.test",
)
RESOLVER_RULES = ", ".join(
    [f"MAP {HOST} 127.0.0.1", f"MAP *.{HOST} 127.0.0.1", f"MAP {CMP_HOST} 127.0.0.1"]
    + [f"MAP {d} 127.0.0.1, MAP *.{d} 127.0.0.1" for d in VENDOR_DOMAINS]
)


def tls_context(directory: Path) -> ssl.SSLContext:
    """A server-side TLS context with a fresh self-signed certificate (written to ``directory``)
    for the test host names. Made with the ``cryptography`` package when it is installed, else
    with the ``openssl`` command."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    names = [HOST, f"*.{HOST}", CMP_HOST]
    if importlib.util.find_spec("cryptography") is not None:
        _self_signed_with_cryptography(cert, key, names)
    else:
        openssl = shutil.which("openssl")
        if openssl is None:
            raise RuntimeError("TLS tests need the cryptography package or the openssl command")
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
             "-subj", f"/CN={HOST}", "-keyout", str(key), "-out", str(cert),
             "-addext", "subjectAltName=" + ",".join(f"DNS:{n}" for n in names)],
            check=True, capture_output=True,
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def _self_signed_with_cryptography(cert: Path, key: Path, names: list[str]) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(private.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                       critical=False)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class CmpServer:
    """``extra_routes``: mounted beside the app's own, as ``cmp-server demo`` mounts its page."""

    def __init__(self, data_dir: Path, extra_routes: list[Any] | None = None) -> None:
        self.extra_routes = extra_routes
        self.db_path = data_dir / "embed.sqlite3"
        self.settings = Settings(
            environment="development",
            database_url=f"sqlite://{self.db_path}",
            data_dir=data_dir,
            config_cache_seconds=0,
        )
        self._sock = _bound_socket()
        self.port: int = self._sock.getsockname()[1]
        self.origin = f"http://{CMP_HOST}:{self.port}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        config = uvicorn.Config(
            create_app(self.settings, extra_routes=self.extra_routes), lifespan="on",
            log_level="warning", ws="none", loop="asyncio", access_log=False,
        )
        self._server = uvicorn.Server(config)
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            ready.set()
            assert self._server is not None
            loop.run_until_complete(self._server.serve(sockets=[self._sock]))
            loop.close()

        self._thread = threading.Thread(target=run, name="cmp-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the CMP server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(30)

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine (a service call) on the server's loop, where its database lives."""
        assert self._loop is not None
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    def receipts(self, site_key: str) -> list[dict[str, Any]]:
        """Receipts of a site as stored, oldest first (read straight from the database)."""
        table = ConsentReceipt._meta.db_table
        with contextlib.closing(sqlite3.connect(self.db_path)) as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(
                f"SELECT r.* FROM {table} r JOIN site s ON s.id = r.site_id "
                "WHERE s.key = ? ORDER BY r.id",
                (site_key,),
            ).fetchall()
        out = []
        for row in rows:
            item = dict(row)
            item["choices"] = json.loads(item["choices"])
            out.append(item)
        return out

    async def wait_receipts(
        self, site_key: str, count: int, timeout: float = 10
    ) -> list[dict[str, Any]]:
        """Receipts once at least ``count`` are committed (browsers send them in the background)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.receipts(site_key)
            if len(rows) >= count or time.monotonic() > deadline:
                return rows
            await asyncio.sleep(0.05)


@dataclass
class Route:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


# Generic resources for blocked elements: a script that records that it ran, and a frame.
SCRIPT = "(window.ran = window.ran || []).push({name});"
FRAME = "<!doctype html><html lang=en><title>frame</title><p id=frame>frame {name}</p></html>"


class HostServer:
    """The customer's website. Pages are registered per test under their own path. With a TLS
    context it is served over https."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        self.scheme = "https" if tls else "http"
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def setup(self) -> None:
                # The TLS handshake here, in the connection's own thread: done in accept() it
                # would stall every other connection behind an idle (preconnected) one.
                if isinstance(self.request, ssl.SSLSocket):
                    self.request.settimeout(10)
                    self.request.do_handshake()
                super().setup()

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                outer.requests.append(self.path)
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                name = query.get("name", ["x"])[0]
                delay = float(query.get("delay", ["0"])[0])
                if parts.path.endswith("/js/ran.js"):
                    time.sleep(delay)
                    route = Route(SCRIPT.format(name=json.dumps(name)).encode(), "text/javascript")
                elif parts.path.endswith("/frame.html"):
                    route = Route(FRAME.format(name=name).encode())
                elif parts.path in outer.routes:
                    route = outer.routes[parts.path]
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                self.send_header("Cache-Control", "no-store")
                for k, v in route.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(route.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                # The browser navigating away mid-response is no error of the page under test.
                pass

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if tls:
            self._httpd.socket = tls.wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False)
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, path: str, host: str = HOST) -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def add(self, path: str, html: str, headers: dict[str, str] | None = None) -> str:
        self.routes[path] = Route(html.encode(), headers=headers or {})
        return self.url(path)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@dataclass(frozen=True)
class Hit:
    method: str
    host: str  # without the port
    path: str  # with the query


class VendorServer:
    """Third parties on one port, over https (as their snippets say; Chromium would upgrade
    several of them anyway, from its HSTS preload list: the browser context must ignore
    certificate errors): ``routes`` maps a path (without the query) to what any of the
    vendor hosts answers; ``{port}`` in a body becomes the port. Every request is recorded in
    ``hits`` (POST bodies are read and dropped). A path it does not know gets an empty 204."""

    def __init__(self, routes: dict[str, Route], tls: ssl.SSLContext) -> None:
        self.routes = routes
        self.hits: list[Hit] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def setup(self) -> None:
                self.request.settimeout(10)
                self.request.do_handshake()
                super().setup()

            def _answer(self) -> None:
                host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
                outer.hits.append(Hit(self.command, host, self.path))
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                route = outer.routes.get(urlsplit(self.path).path)
                if route is None:
                    self.send_response(204)
                    self.send_header("Access-Control-Allow-Origin", "*")
                    self.end_headers()
                    return
                body = route.body.replace(b"{port}", str(outer.port).encode())
                self.send_response(200)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer  # noqa: N815 (http.server's names)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.socket = tls.wrap_socket(
            self._httpd.socket, server_side=True, do_handshake_on_connect=False)
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def hosts(self) -> set[str]:
        """Every host that was asked for anything."""
        return {h.host for h in self.hits}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nAccess-Control-Allow-Origin: *\r\n"
    b"Content-Type: application/json\r\nContent-Length: 47\r\nConnection: close\r\n\r\n"
    b'{"error":"unavailable","detail":"try it later"}'
)


class SwitchProxy:
    """Forwards TCP to ``target_port``; ``down()`` drops every connection and refuses new ones;
    ``busy()`` answers every request with the contract's 503 ("try again later"). With a TLS
    context it terminates TLS: the CMP server as an https origin."""

    def __init__(self, target_port: int, tls: ssl.SSLContext | None = None) -> None:
        self.target_port = target_port
        self._tls = tls
        self._sock = _bound_socket()
        self.port: int = self._sock.getsockname()[1]
        self.origin = f"{'https' if tls else 'http'}://{CMP_HOST}:{self.port}"
        self.is_up = True
        self.is_busy = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> None:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, sock=self._sock, ssl=self._tls), self._loop
        ).result(10)

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            self._drop()
            me = asyncio.current_task()
            pending = [t for t in asyncio.all_tasks() if t is not me]
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _drop(self) -> None:
        for w in list(self._writers):
            w.close()
        self._writers.clear()

    def down(self) -> None:
        self.is_up = False
        self._loop.call_soon_threadsafe(self._drop)

    def up(self) -> None:
        self.is_up = True
        self.is_busy = False

    def busy(self) -> None:
        self.is_busy = True
        self._loop.call_soon_threadsafe(self._drop)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.is_up:
            writer.close()
            return
        if self.is_busy:
            with contextlib.suppress(Exception):
                await reader.readuntil(b"\r\n\r\n")
                writer.write(BUSY)
                await writer.drain()
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.discard(writer)
        self._writers.discard(up_writer)


@contextlib.contextmanager
def running(*servers: CmpServer | HostServer | VendorServer | SwitchProxy) -> Iterator[None]:
    for s in servers:
        s.start()
    try:
        yield
    finally:
        for s in reversed(servers):
            s.stop()
