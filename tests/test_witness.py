"""Witnessing (issue 21): new checkpoints POSTed to witness URLs with retries, and each site's
latest checkpoint kept in a file. The witness here is a real HTTP server on this machine."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from cmp_server._utils import utcnow
from cmp_server.models import Delivery, DeliveryAttempt
from cmp_server.services import checkpoints, deliveries, signing
from cmp_server.settings import Settings
from cmp_verify.checkpoint import parse_body

from .factories import published_site, send_receipt


class Witness:
    """Keeps what it is sent; refuses the first ``refuse`` POSTs with a 503."""

    def __init__(self, refuse: int = 0) -> None:
        self.received: list[dict[str, object]] = []
        self.refused = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.refused < refuse:
                    outer.refused += 1
                    self.send_response(503)
                else:
                    outer.received.append(json.loads(body))
                    self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/checkpoints"


@pytest.fixture
def witnesses() -> Iterator[list[Witness]]:
    made = [Witness(), Witness(refuse=2)]
    threads = [threading.Thread(target=w.server.serve_forever, daemon=True) for w in made]
    for thread in threads:
        thread.start()
    yield made
    for w in made:
        w.server.shutdown()
        w.server.server_close()


async def test_each_checkpoint_reaches_every_witness_and_the_file(
    client: httpx.AsyncClient, tmp_path: Path, witnesses: list[Witness]
) -> None:
    """The POSTs are deliveries in the workers' queue: a witness that refuses (503) is tried
    again after the queue's backoff, and takes them then; every attempt is logged."""
    key_path = tmp_path / "signing-key.pem"
    await signing.create_key(key_path)
    site, _ = await published_site()
    other, _ = await published_site("Other", ("other.example", "shop.example"))
    await send_receipt(client, site.key)
    await send_receipt(client, other.key)
    latest_file = tmp_path / "archive" / "latest-checkpoints.json"
    made = await checkpoints.run_checkpoints(key_path, [w.url for w in witnesses], latest_file)
    stored = json.loads(latest_file.read_text())  # the file at once
    assert stored[site.key]["tree_size"] == 1 and stored[other.key]["tree_size"] == 1
    assert not witnesses[0].received  # nothing sent by the run itself: queued

    now = utcnow()
    assert await deliveries.deliver_due("w1", allow_private=False, now=now) == 4
    assert sorted(str(w["site"]) for w in witnesses[0].received) == sorted([site.key, other.key])
    assert {json.dumps(w, sort_keys=True) for w in witnesses[0].received} == {
        json.dumps(m.as_json(), sort_keys=True) for m in made}
    assert witnesses[1].refused == 2 and not witnesses[1].received
    queued = await Delivery.filter(channel="witness").order_by("id")
    assert [d.status for d in queued].count("pending") == 2
    # Not due again before the backoff; then taken.
    assert await deliveries.deliver_due("w1", allow_private=False, now=now) == 0
    later = now + deliveries.retry_delay(1) + timedelta(seconds=1)
    assert await deliveries.deliver_due("w1", allow_private=False, now=later) == 2
    assert len(witnesses[1].received) == 2
    assert {d.status for d in await Delivery.filter(channel="witness")} == {"delivered"}
    tries = await DeliveryAttempt.filter(delivery__channel="witness").order_by("id")
    assert sorted(t.status_code or 0 for t in tries) == [201, 201, 201, 201, 503, 503]

    # The next checkpoint: the file keeps the other site's.
    await send_receipt(client, site.key)
    await checkpoints.run_checkpoints(key_path, (), latest_file)
    stored = json.loads(latest_file.read_text())
    assert parse_body(stored[site.key]["body"].encode()).size == 2
    assert stored[other.key]["tree_size"] == 1


async def test_a_witness_that_stays_down_holds_nothing_up(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    key_path = tmp_path / "signing-key.pem"
    await signing.create_key(key_path)
    site, _ = await published_site()
    await send_receipt(client, site.key)
    down = Witness()
    url = down.url
    down.server.server_close()  # nothing listens there
    made = await checkpoints.run_checkpoints(key_path, (url,), None)
    assert (await checkpoints.latest_checkpoint(site)).tree_size == 1 == made[0].tree_size
    now = utcnow()
    assert await deliveries.deliver_due("w1", allow_private=False, now=now) == 1
    delivery = await Delivery.get(channel="witness")
    assert delivery.status == "pending" and delivery.attempts == 1
    attempt = await DeliveryAttempt.get(delivery_id=delivery.id)
    assert attempt.status_code is None and attempt.error
    # A day of failures: given up, and logged as such.
    await deliveries.deliver_due("w1", allow_private=False, now=now + timedelta(hours=25))
    assert (await Delivery.get(id=delivery.id)).status == "given_up"


def test_witness_urls_from_the_environment_form() -> None:
    settings = Settings(witness_urls="https://a.example/w, http://b.example/x")  # type: ignore[arg-type]
    assert settings.witness_urls == ("https://a.example/w", "http://b.example/x")
    assert Settings(witness_urls='["https://a.example/w"]').witness_urls == (  # type: ignore[arg-type]
        "https://a.example/w",)
    with pytest.raises(ValidationError, match="not an http"):
        Settings(witness_urls="ftp://a.example")  # type: ignore[arg-type]
