"""The server recovers by itself when PostgreSQL goes away under it: a killed backend, a
commit whose answer was lost on the way. Every receipt a client sent again is stored once.
A restart of PostgreSQL in the middle of a load is a fault case of its own
(tests/faults/test_postgres_restart.py, on a cluster the test makes).

PostgreSQL only: SQLite is a file in the process, with no connection to lose.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import asyncpg
import httpx
import orjson
import pytest
from starlette.applications import Starlette

from cmp_server.app import create_app
from cmp_server.models import ConsentReceipt
from cmp_server.services.configs import ConfigCache
from cmp_server.services.verify import verify_receipts
from cmp_server.settings import Settings

from .factories import ORIGIN, published_site, receipt_body

HEADERS = {"Origin": ORIGIN, "Content-Type": "text/plain"}


@pytest.fixture
def postgres(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("PostgreSQL only: set CMP_TEST_DATABASE_URL")


def _dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


async def terminate_backends(database_url: str) -> int:
    """End every other session on the test database, as an operator's pg_terminate_backend
    (or a server closing idle connections) does, and wait until they are gone."""
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        pids = [
            r["pid"]
            for r in await conn.fetch(
                "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]
        for _ in range(200):
            left = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", pids
            )
            if not left:
                break
            await asyncio.sleep(0.01)
    finally:
        await conn.close()
    return len(pids)


async def post(client: httpx.AsyncClient, key: str, body: dict[str, object]) -> httpx.Response:
    return await client.post(f"/v1/sites/{key}/consents", content=orjson.dumps(body),
                             headers=HEADERS)


async def test_a_killed_writer_backend_is_replaced_without_a_failed_receipt(
    postgres: None, database_url: str, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    consent = receipt_body()["consent_id"]
    assert (await post(client, site.key, receipt_body(consent_id=consent))).status_code == 201
    for _ in range(3):  # the writer's connection, and the pool's, killed again and again
        assert await terminate_backends(database_url) >= 1
        for _ in range(3):
            r = await post(client, site.key, receipt_body(consent_id=consent))
            assert r.status_code == 201, r.text
    assert await ConsentReceipt.filter(consent_id=consent).count() == 10
    assert (await verify_receipts(site)).ok


class _CuttingProxy:
    """A TCP proxy to PostgreSQL that, once armed, drops the connection on which an INSERT's
    answer comes back instead of passing the answer on: the insert has committed, the client
    cannot know it. (The test database runs without TLS, so the answer can be seen.) Set
    ``down`` and it drops every connection and takes none: the database is gone."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.armed = False
        self.cut = 0
        self.port = 0
        self._down = False
        self._open: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> _CuttingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    @property
    def down(self) -> bool:
        return self._down

    @down.setter
    def down(self, value: bool) -> None:
        self._down = value
        if value:
            for w in self._open:
                w.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._down:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._open.update((writer, up_writer))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, answers: bool) -> None:
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                while chunk := await src.read(65536):
                    if answers and self.armed and b"INSERT 0 " in chunk:
                        self.armed = False
                        self.cut += 1
                        break
                    dst.write(chunk)
                    await dst.drain()
            for w in (writer, up_writer):
                w.close()
                self._open.discard(w)

        await asyncio.gather(pump(reader, up_writer, False), pump(up_reader, writer, True))


@contextlib.asynccontextmanager
async def _app(settings: Settings, database_url: str, **update: object) -> AsyncIterator[Starlette]:
    app = create_app(settings.model_copy(update={"database_url": database_url, **update}))
    async with app.router.lifespan_context(app):
        yield app


@contextlib.asynccontextmanager
async def _client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    # A 500 comes back as a response, to be counted, not raised into the test.
    transport = httpx.ASGITransport(app=app, client=("203.0.113.77", 50000),
                                    raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def test_a_commit_whose_answer_was_lost_is_not_written_twice(
    postgres: None, database_url: str, settings: Settings
) -> None:
    port = int(database_url.rsplit(":", 1)[1].split("/", 1)[0])
    proxy = _CuttingProxy(port)
    async with proxy, _app(
        settings, database_url.replace(f":{port}/", f":{proxy.port}/", 1)
    ) as application:
        async with _client(application) as client:
            site, _ = await published_site()
            first = receipt_body()
            assert (await post(client, site.key, first)).status_code == 201
            body = receipt_body(consent_id=first["consent_id"])
            proxy.armed = True
            r = await post(client, site.key, body)
            assert proxy.cut == 1  # the insert committed, and its answer was lost
            assert r.status_code == 201, r.text
            after = receipt_body(consent_id=first["consent_id"])
            assert (await post(client, site.key, after)).status_code == 201
        rows = await ConsentReceipt.filter(consent_id=first["consent_id"]).order_by("id")
        assert [str(row.receipt_id) for row in rows] == [
            first["receipt_id"], body["receipt_id"], after["receipt_id"]
        ]
        # Answered from the stored row, read back after the connection was lost.
        assert r.json()["recorded_at"] == rows[1].recorded_at.isoformat().replace("+00:00", "Z")
        assert rows[2].previous_receipt_id == rows[1].receipt_id
        assert (await verify_receipts(site)).ok


@contextlib.asynccontextmanager
async def _proxied(settings: Settings, database_url: str) -> AsyncIterator[
    tuple[_CuttingProxy, httpx.AsyncClient]
]:
    port = int(database_url.rsplit(":", 1)[1].split("/", 1)[0])
    proxy = _CuttingProxy(port)
    async with proxy, _app(
        settings, database_url.replace(f":{port}/", f":{proxy.port}/", 1), config_cache_seconds=60
    ) as application, _client(application) as client:
        yield proxy, client


async def test_receipts_are_503_while_the_database_is_gone_and_201_once_it_is_back(
    postgres: None, database_url: str, settings: Settings
) -> None:
    async with _proxied(settings, database_url) as (proxy, client):
        site, _ = await published_site()
        assert (await post(client, site.key, receipt_body())).status_code == 201
        proxy.down = True
        body = receipt_body()
        r = await post(client, site.key, body)
        assert r.status_code == 503 and r.json()["error"] == "write_failed"
        proxy.down = False
        started = time.monotonic()
        r = await post(client, site.key, body)
        assert r.status_code == 201, r.text
        assert time.monotonic() - started < 2
        assert await ConsentReceipt.filter(receipt_id=body["receipt_id"]).count() == 1


async def test_a_config_lookup_while_the_database_is_gone_is_never_a_500(
    postgres: None, database_url: str, settings: Settings
) -> None:
    async with _proxied(settings, database_url) as (proxy, client):
        site, _ = await published_site()
        other, _ = await published_site("Other")
        # Every request looks the newest version up again (no time to live).
        client._transport.app.state.configs = ConfigCache(0)  # type: ignore[attr-defined]
        seen = await client.get(f"/v1/sites/{site.key}/config")
        proxy.down = True
        # Known before: the cached version is served (stale if error).
        stale = await client.get(f"/v1/sites/{site.key}/config")
        assert stale.status_code == 200 and stale.content == seen.content
        # Never seen: 503, retryable, not a 500.
        r = await client.get(f"/v1/sites/{other.key}/config")
        assert r.status_code == 503 and r.json()["error"] == "unavailable", r.text
        proxy.down = False
        assert (await client.get(f"/v1/sites/{other.key}/config")).status_code == 200
