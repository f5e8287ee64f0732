"""`cmp-server serve` runs its scan worker in a process of its own (``worker_process``): a
hostile page's scan is stored by that process while the server's own answers receipts, on the
one SQLite file both write. The worker is started again when it dies, and goes with the server.

"Answered during the store" is checked by structure, not by time: a receipt counts when the
store had begun (the scan's first inventory rows are there, its job still running) before it
was sent and still ran when it was acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import orjson
import pytest

from .._server import run_cli
from ..factories import receipt_body
from ._harness import HEADERS, Server, create_site, fault_env

pytestmark = pytest.mark.browser

KEYS = 2500  # localStorage and as many sessionStorage keys: 5,000 items, stored in 50 batches
HOSTILE = (
    "<!doctype html><title>Hostile</title><script>"
    f"for (let i = 0; i < {KEYS}; i++) {{"
    ' localStorage.setItem("ls-" + i, "v"); sessionStorage.setItem("ss-" + i, "v"); }'
    "</script>"
)
# Past the page, so that every key is an item and the store is long (the defaults keep 200).
RAISED = {
    "CMP_SCAN_MAX_ITEMS_PER_PASS": "50000",
    "CMP_SCAN_MAX_STORAGE_KEYS_PER_ORIGIN": "50000",
    "CMP_SCAN_MAX_REPORT_BYTES": "200000000",
}


@pytest.fixture(scope="module")
def page() -> Iterator[str]:
    """The hostile page over plain HTTP (a scan queued as staff do takes no browser options)."""
    body = HOSTILE.encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _children(pid: int) -> set[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True,
                           check=False)
    return {int(p) for p in found.stdout.split()}


def _worker_pid(server: Server) -> int | None:
    """The worker process among the server's children: the one running ``spawn_main``."""
    assert server.proc is not None
    for pid in _children(server.proc.pid):
        with contextlib.suppress(FileNotFoundError):
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
    return None


async def _until(check: Callable[[], bool], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "not within the bound"
        await asyncio.sleep(0.05)


def _state(path: Path, job: int) -> tuple[str, int]:
    """The job's status and how many inventory rows the scan has stored so far."""
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
        status = conn.execute("SELECT status FROM scan_job WHERE id = ?", (job,)).fetchone()[0]
        items = conn.execute(
            "SELECT count(*) FROM inventory_item WHERE source = 'scan'").fetchone()[0]
    return str(status), int(items)


@pytest.mark.timeout(450)
async def test_receipts_are_answered_while_the_worker_process_stores_a_hostile_scan(
    tmp_path: Path, page: str,
) -> None:
    database = tmp_path / "cmp.sqlite3"
    env = fault_env(f"sqlite://{database}", tmp_path, CMP_ALLOW_PRIVATE_SCAN_TARGETS="true",
                    **RAISED)
    key = create_site(env)
    server = Server(env)
    server.start()
    try:
        await server.serving()
        assert server.proc is not None
        await _until(lambda: _worker_pid(server) is not None)
        worker = _worker_pid(server)
        assert worker is not None and worker != server.proc.pid

        queued = run_cli(["request-scan", "--site", key, "--url", page,
                          "--max-pages", "1"], env)
        assert queued.returncode == 0, queued.stderr
        job = int(queued.stdout.split()[-1].strip("."))

        during: list[str] = []  # receipts sent and acknowledged while the store ran
        statuses: list[int] = []
        async with httpx.AsyncClient(base_url=server.base, timeout=60) as client:
            deadline = time.monotonic() + 240
            while True:
                status, items = await asyncio.to_thread(_state, database, job)
                if status in ("done", "failed"):
                    break
                assert time.monotonic() < deadline, f"the scan did not end: {status}, {items}"
                if status != "running" or items == 0:
                    await asyncio.sleep(0.02)
                    continue
                body = receipt_body(version=1, language="en",
                                    page_url="https://www.faults.example/")
                r = await client.post(f"/v1/sites/{key}/consents", content=orjson.dumps(body),
                                      headers=HEADERS)
                statuses.append(r.status_code)
                status, later = await asyncio.to_thread(_state, database, job)
                if r.status_code == 201 and status == "running" and later < 2 * KEYS:
                    during.append(body["receipt_id"])
        final = await asyncio.to_thread(_state, database, job)
        assert final == ("done", 2 * KEYS), server.output()[-3000:]
        assert set(statuses) == {201}
        assert during, "no receipt was answered while the scan was being stored"
        print(f"{len(during)} receipts answered during the store of {2 * KEYS} items")

        with contextlib.closing(sqlite3.connect(database)) as conn:
            (scanned_by,) = conn.execute(
                "SELECT claimed_by FROM scan_job WHERE id = ?", (job,)).fetchone()
            stored = conn.execute(
                f"SELECT count(*) FROM consent_receipt WHERE receipt_id IN "
                f"({','.join('?' * len(during))})", during).fetchone()[0]
        # The worker's process scanned and stored it, not the server's.
        assert str(scanned_by).endswith(f":{worker}")
        assert stored == len(during)

        # A worker that dies is started again; the server serves all the while.
        os.kill(worker, 9)
        try:  # a second (spawned) interpreter to start: slow on a loaded machine
            await _until(lambda: _worker_pid(server) not in (None, worker), within=150)
        except AssertionError:
            raise AssertionError(f"no new worker: {server.output()[-3000:]}") from None
        async with httpx.AsyncClient(base_url=server.base) as client:
            assert (await client.get("/healthz")).status_code == 200
        again = _worker_pid(server)
        assert again is not None and "exited with -9" in server.output()
    finally:
        server.stop()
    # It goes with the server.
    await _until(lambda: not Path(f"/proc/{again}").exists(), within=30)
