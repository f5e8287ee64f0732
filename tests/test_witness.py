"""Witnessing (issue 21): new checkpoints POSTed to witness URLs with retries, and each site's
latest checkpoint kept in a file. The witness here is a real HTTP server on this machine."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from cmp_server.services import checkpoints, signing, witness
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
    key_path = tmp_path / "signing-key.pem"
    await signing.create_key(key_path)
    site, _ = await published_site()
    other, _ = await published_site("Other", ("other.example", "shop.example"))
    await send_receipt(client, site.key)
    await send_receipt(client, other.key)
    latest_file = tmp_path / "archive" / "latest-checkpoints.json"
    made = await checkpoints.run_checkpoints(key_path, (witnesses[0].url,), latest_file)
    assert {w["site"] for w in witnesses[0].received} == {site.key, other.key}
    assert witnesses[0].received == [m.as_json() for m in made]
    stored = json.loads(latest_file.read_text())
    assert stored[site.key]["tree_size"] == 1 and stored[other.key]["tree_size"] == 1

    # A witness that refuses twice gets it on the third try; the file keeps the other site.
    await send_receipt(client, site.key)
    made = await checkpoints.take_checkpoints(await signing.load_signer(key_path))
    await witness.publish(made, [w.url for w in witnesses], latest_file, pause=0.01)
    assert witnesses[1].refused == 2
    assert [w["tree_size"] for w in witnesses[1].received] == [2]
    stored = json.loads(latest_file.read_text())
    assert parse_body(stored[site.key]["body"].encode()).size == 2
    assert stored[other.key]["tree_size"] == 1


async def test_a_witness_that_stays_down_holds_nothing_up(
    client: httpx.AsyncClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key_path = tmp_path / "signing-key.pem"
    await signing.create_key(key_path)
    site, _ = await published_site()
    await send_receipt(client, site.key)
    made = await checkpoints.take_checkpoints(await signing.load_signer(key_path))
    down = Witness()
    url = down.url
    down.server.server_close()  # nothing listens there
    assert not await witness.deliver(url, made[0], pause=0.01)
    assert "did not take checkpoint" in caplog.text
    assert (await checkpoints.latest_checkpoint(site)).tree_size == 1


def test_witness_urls_from_the_environment_form() -> None:
    settings = Settings(witness_urls="https://a.example/w, http://b.example/x")  # type: ignore[arg-type]
    assert settings.witness_urls == ("https://a.example/w", "http://b.example/x")
    assert Settings(witness_urls='["https://a.example/w"]').witness_urls == (  # type: ignore[arg-type]
        "https://a.example/w",)
    with pytest.raises(ValidationError, match="not an http"):
        Settings(witness_urls="ftp://a.example")  # type: ignore[arg-type]
