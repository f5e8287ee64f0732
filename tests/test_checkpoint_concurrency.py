"""Issue 21's concurrency case: two servers and a worker on one PostgreSQL database, each
taking checkpoints every half second while receipts are written to both servers under load.
Every receipt ends up at exactly one tree position, the positions have no gap, and the
checkpoints form one consistent sequence (``verify-receipts`` checks them all)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
import orjson
import pytest

from ._server import cli_env, free_port, run_cli, serving
from .factories import receipt_body

pytestmark = pytest.mark.slow


async def test_two_servers_and_a_worker_sign_one_sequence(
    database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("postgres"):
        pytest.skip("several processes on one database: PostgreSQL")
    # Keys the earlier tests of the session registered (their files are gone): this test
    # makes its own, as a fresh install would.
    conn = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute("DELETE FROM signing_key")
    finally:
        await conn.close()
    env = cli_env(database_url, tmp_path)
    env.update({"CMP_CHECKPOINT_INTERVAL_SECONDS": "0.5", "CMP_RUN_WORKER": "false"})
    created = run_cli(["create-site", "--name", "Load", "--domain", "load.example"], env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert run_cli(["keys", "create"], env).returncode == 0

    worker = subprocess.Popen([sys.executable, "-m", "cmp_server.cli", "worker"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sent: list[str] = []
    lock = threading.Lock()
    try:
        # Started under the load of a whole test run: give them time.
        with serving(["serve"], env, free_port(), start_timeout=120) as one, \
                serving(["serve"], env, free_port(), start_timeout=120) as two:
            stop = time.monotonic() + 8

            def load(n: int) -> None:
                visitor = str(uuid.uuid4())
                with httpx.Client(timeout=30) as http:
                    i = 0
                    while time.monotonic() < stop:
                        # A visitor's receipts go to either server, as behind a balancer.
                        base = (one, two)[(n + i) % 2]
                        if i % 4 == 0:
                            visitor = str(uuid.uuid4())
                        body = receipt_body(consent_id=visitor,
                                            page_url="https://www.load.example/")
                        r = http.post(f"{base}/v1/sites/{key}/consents",
                                      content=orjson.dumps(body),
                                      headers={"Origin": "https://www.load.example",
                                               "Content-Type": "text/plain"})
                        if r.status_code == 201:
                            with lock:
                                sent.append(body["receipt_id"])
                        else:
                            assert r.status_code == 503, r.text  # retryable only
                        i += 1

            threads = [threading.Thread(target=load, args=(n,)) for n in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            time.sleep(1.5)  # a last round of checkpoints by the servers
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    assert len(sent) > 100
    last = run_cli(["checkpoint"], env)  # whatever came in after their last round
    assert last.returncode == 0, last.stderr

    conn = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
    try:
        site_id = await conn.fetchval("SELECT id FROM site WHERE key = $1", key)
        stored = await conn.fetchval(
            "SELECT count(*) FROM consent_receipt WHERE site_id = $1", site_id)
        leaves = await conn.fetch(
            "SELECT l.position, r.receipt_id FROM receipt_leaf l JOIN consent_receipt r"
            " ON r.id = l.receipt_pk WHERE l.site_id = $1 ORDER BY l.position", site_id)
        sizes = [r["tree_size"] for r in await conn.fetch(
            "SELECT tree_size FROM checkpoint WHERE site_id = $1 ORDER BY id", site_id)]
    finally:
        await conn.close()
    assert stored == len(sent)
    assert [leaf["position"] for leaf in leaves] == list(range(stored))
    assert sorted(str(leaf["receipt_id"]) for leaf in leaves) == sorted(sent)
    assert len(sizes) > 2 and sizes == sorted(set(sizes)) and sizes[-1] == stored
    verified = run_cli(["verify-receipts", "--site", key], env, timeout=300)
    assert verified.returncode == 0 and "VERIFIED" in verified.stdout, verified.stdout
