"""A worker killed mid-delivery loses nothing (issue 22, part 1): two real ``cmp-server worker``
processes on PostgreSQL; the first is SIGKILLed while a webhook receiver holds its request
unanswered, and the second delivers the event once the first one's lease has run out
(``CMP_DELIVERY_LEASE_SECONDS``, shortened here), with the same ``webhook-id``, as the
Standard Webhooks specification tells receivers to expect."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from standardwebhooks import Webhook
from starlette.applications import Starlette

from cmp_server.models import Delivery, DeliveryAttempt
from cmp_server.services import events, webhooks

from ._server import cli_env
from .factories import published_site

LEASE_SECONDS = 6


@dataclass
class Holding:
    """An HTTP receiver that holds its first request unanswered (a hung endpoint) and
    answers 200 to every later one."""

    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    first: asyncio.Event = field(default_factory=asyncio.Event)
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")[1:]
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in lines if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append((headers, body))
        if len(self.requests) == 1:
            self.first.set()
            await asyncio.sleep(3600)  # hung: the sender is killed before it gives up
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()
        self.answered.set()


@pytest.fixture
async def holding() -> AsyncIterator[Holding]:
    got = Holding()
    server = await asyncio.start_server(got.handle, "127.0.0.1", 0)
    got.port = server.sockets[0].getsockname()[1]
    async with server:
        yield got
        server.close()


@contextmanager
def worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cmp_server.cli", "worker"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def test_a_killed_workers_delivery_is_made_by_another_worker(
    app: Starlette, database_url: str, is_postgres: bool, holding: Holding, tmp_path: Path
) -> None:
    if not is_postgres:
        pytest.skip("several worker processes share a queue on PostgreSQL only")
    site, _ = await published_site()
    endpoint = await webhooks.add_endpoint(site, f"http://127.0.0.1:{holding.port}/hooks",
                                           ["version.published"], actor=None,
                                           allow_private=True)
    await events.emit(site, "version.published", {"version": 7})
    env = {**cli_env(database_url, tmp_path), "CMP_ALLOW_PRIVATE_SCAN_TARGETS": "true",
           "CMP_DELIVERY_LEASE_SECONDS": str(LEASE_SECONDS)}
    host = socket.gethostname()

    with worker(env, tmp_path / "first.log") as first:
        await asyncio.wait_for(holding.first.wait(), 60)  # it sent, and waits for an answer
        claimed = await Delivery.get(endpoint=endpoint)
        assert (claimed.status, claimed.claimed_by) == ("pending", f"{host}:{first.pid}")
        os.kill(first.pid, signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
    # Killed mid-request: no attempt recorded, the delivery still pending under its lease.
    assert await DeliveryAttempt.filter(delivery_id=claimed.id).count() == 0

    with worker(env, tmp_path / "second.log") as second:
        await asyncio.wait_for(holding.answered.wait(), LEASE_SECONDS + 60)
        for _ in range(100):  # the answer is recorded just after it arrives
            done = await Delivery.get(id=claimed.id)
            if done.status == "delivered":
                break
            await asyncio.sleep(0.1)
    log = (tmp_path / "second.log").read_text(errors="replace")
    assert done.status == "delivered", log
    assert done.claimed_by == f"{host}:{second.pid}"
    [attempt] = await DeliveryAttempt.filter(delivery_id=claimed.id)
    assert attempt.status_code == 200
    # The same event, signed as the specification says, under the same id both times.
    assert len(holding.requests) == 2
    ids = {headers["webhook-id"] for headers, _ in holding.requests}
    assert len(ids) == 1
    headers, body = holding.requests[1]
    assert Webhook(endpoint.secret).verify(body, headers)["data"]["version"] == 7
