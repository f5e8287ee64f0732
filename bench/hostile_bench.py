"""Benchmark: receipt latency while a hostile page's scan is scanned, stored and viewed, against
the same server idle (issue 20, 1).

    .venv/bin/python bench/hostile_bench.py                      # SQLite, then PostgreSQL
    .venv/bin/python bench/hostile_bench.py --database sqlite --keys 2000 --rate 20

The page writes ``--keys`` localStorage and as many sessionStorage keys (5,000 each: the
defect's page). A real ``cmp-server serve`` (uvicorn, its own scan worker) scans it with one
page and three passes, stores the scan and serves its admin page, while this script posts
receipts at a steady rate (``--rate`` a second, each on its own: a slow answer does not slow
the sending) and notes each one's latency and the phase it was sent in:

- idle: before the scan is queued;
- scanning: the job runs the browser;
- storing: from the first inventory row the scan adds to the job's end;
- viewing: the scan's admin page (its first page, then its last page of items) fetched over
  and over, one after another.

The server runs twice for each database: with the default limits (``CMP_SCAN_MAX_*``: the scan
keeps 200 of the page's 10,000 names), then with the limits raised past the page (every name
kept: the 10,000-item scan of the defect), which is what makes the store itself big.

Every acknowledged receipt is counted in the database afterwards. Exits non-zero only when
the set-up fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from statistics import quantiles

import asyncpg  # type: ignore[import-untyped]
import httpx

ROOT = Path(__file__).resolve().parent.parent
CLI = str(ROOT / ".venv" / "bin" / "cmp-server")
PASSWORD = "bench password for the hostile scan"
ORIGIN = "https://www.hostile-bench.example"
RAISED = {
    "CMP_SCAN_MAX_ITEMS_PER_PASS": "50000",
    "CMP_SCAN_MAX_STORAGE_KEYS_PER_ORIGIN": "50000",
    "CMP_SCAN_MAX_REPORT_BYTES": "200000000",
}
PHASES = ("idle", "scanning", "storing", "viewing")


def hostile_page(keys: int) -> bytes:
    return (
        "<!doctype html><title>Hostile</title><script>"
        f"for (let i = 0; i < {keys}; i++) {{"
        ' localStorage.setItem("ls-" + i, "v"); sessionStorage.setItem("ss-" + i, "v"); }'
        "</script>"
    ).encode()


@contextlib.contextmanager
def page_server(body: bytes) -> Iterator[str]:
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
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([CLI, *args], env=env, input=stdin, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        sys.exit(f"cmp-server {' '.join(args)} failed: {done.stderr or done.stdout}")
    return done.stdout


@dataclass
class Latencies:
    by_phase: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PHASES})
    acknowledged: list[str] = field(default_factory=list)
    failed: int = 0


class Database:
    """What the bench reads of the server's database: the job's state and the site's items."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def one(self, query: str, *args: object) -> object:
        if self.url.startswith("sqlite://"):
            path = self.url.removeprefix("sqlite://")
            with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
                row = conn.execute(query.replace("$1", "?"), args).fetchone()
                return row[0] if row else None
        conn = await asyncpg.connect(self.url.replace("postgres://", "postgresql://", 1))
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()


async def post_receipts(base: str, key: str, rate: float, phase: list[str], out: Latencies,
                        stop: asyncio.Event) -> None:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        tasks: set[asyncio.Task[None]] = set()

        async def one() -> None:
            now = phase[0]
            receipt = str(uuid.uuid4())
            body = json.dumps({
                "receipt_id": receipt, "consent_id": str(uuid.uuid4()), "config_version": 1,
                "choices": {"necessary": True, "statistics": False, "marketing": False,
                            "preferences": False},
                "method": "reject_all", "layer": "first", "language": "en",
                "page_url": "https://www.hostile-bench.example/",
            })
            began = time.perf_counter()
            try:
                r = await client.post(f"/v1/sites/{key}/consents", content=body, headers={
                    "Origin": ORIGIN, "Content-Type": "text/plain;charset=UTF-8"})
            except httpx.HTTPError:
                out.failed += 1
                return
            if r.status_code == 201:
                out.by_phase[now].append((time.perf_counter() - began) * 1000)
                out.acknowledged.append(receipt)
            else:
                out.failed += 1

        next_at = time.perf_counter()
        while not stop.is_set():
            task = asyncio.create_task(one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        await asyncio.gather(*tasks)


async def sign_in(client: httpx.AsyncClient, email: str) -> None:
    form = await client.get("/admin/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, "no CSRF token on the sign-in page"
    r = await client.post("/admin/login", data={"csrf_token": token.group(1), "email": email,
                                                  "password": PASSWORD})
    if r.status_code not in (200, 303):
        sys.exit(f"sign-in failed: {r.status_code}")


async def run(args: argparse.Namespace, url: str, raised: bool) -> tuple[Latencies, dict[str, str]]:
    data = Path(tempfile.mkdtemp(prefix="hostile-bench-"))
    url = url or f"sqlite://{data / 'cmp.sqlite3'}"
    env = {**os.environ, "CMP_DATA_DIR": str(data), "CMP_DATABASE_URL": url,
           "CMP_ALLOW_PRIVATE_SCAN_TARGETS": "true", "CMP_ENVIRONMENT": "development",
           **(RAISED if raised else {})}
    if url.startswith("postgres"):
        admin = url.rsplit("/", 1)[0] + "/postgres"
        conn = await asyncpg.connect(admin.replace("postgres://", "postgresql://", 1))
        name = url.rsplit("/", 1)[1]
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
    cli(env, "migrate")
    key = cli(env, "create-site", "--name", "Hostile", "--domain", "hostile-bench.example",
              "--force").split()[-1]
    cli(env, "create-admin", "--email", "bench@example.org", "--password-stdin",
        stdin=PASSWORD + "\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(data / "serve.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen([CLI, "serve", "--port", str(port)], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    db = Database(url)
    out = Latencies()
    phase = ["idle"]
    notes: dict[str, str] = {}
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            for _ in range(200):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"/v1/sites/{key}/config")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            stop = asyncio.Event()
            poster = asyncio.create_task(post_receipts(base, key, args.rate, phase, out, stop))
            await asyncio.sleep(args.idle)
            with page_server(hostile_page(args.keys)) as target:
                job = int(cli(env, "request-scan", "--site", key, "--url", target,
                              "--max-pages", "1").split()[-1].strip("."))
                phase[0] = "scanning"
                started = time.monotonic()
                while True:
                    status = await db.one("SELECT status FROM scan_job WHERE id = $1", job)
                    items = await db.one("SELECT count(*) FROM inventory_item WHERE source = "
                                         "'scan'")
                    if phase[0] == "scanning" and isinstance(items, int) and items > 0:
                        phase[0] = "storing"
                        notes["scan"] = f"{time.monotonic() - started:.1f} s"
                        store_began = time.monotonic()
                    if status in ("done", "failed"):
                        break
                    await asyncio.sleep(0.02)
                if status != "done":
                    error = await db.one("SELECT error FROM scan_job WHERE id = $1", job)
                    sys.exit(f"the scan failed: {error}")
                notes["store"] = (f"{time.monotonic() - store_began:.1f} s"
                                  if "scan" in notes else "(under one poll)")
            notes["items"] = str(await db.one("SELECT count(*) FROM inventory_item"))
            scan_id = await db.one("SELECT id FROM scan WHERE job_id = $1", job)
            await sign_in(client, "bench@example.org")
            phase[0] = "viewing"
            views: list[float] = []
            ends = time.monotonic() + args.view
            page = f"/admin/sites/{key}/scans/{scan_id}"
            last = f"{page}?items={max(1, -(-int(notes['items']) // 50))}"
            while time.monotonic() < ends:
                for path in (page, last):
                    began = time.perf_counter()
                    r = await client.get(path)
                    if r.status_code != 200:
                        sys.exit(f"the scan page answered {r.status_code}")
                    views.append((time.perf_counter() - began) * 1000)
            median = sorted(views)[len(views) // 2]
            notes["view"] = (f"{len(views)} page views, median {median:.0f} ms, "
                             f"{len(r.content) // 1024} KiB")
            stop.set()
            await poster
        stored = await db.one("SELECT count(*) FROM consent_receipt")
        notes["stored"] = f"{stored} of {len(out.acknowledged)} acknowledged"
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(10)
        log.close()
        shutil.rmtree(data, ignore_errors=True)
    return out, notes


def stats(values: list[float]) -> str:
    if len(values) < 2:
        return f"{len(values)} receipts | – | – | –"
    cuts = quantiles(values, n=100, method="inclusive")
    return f"{len(values)} | {cuts[49]:.1f} | {cuts[98]:.1f} | {max(values):.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/bench_hostile")
    parser.add_argument("--limits", choices=("default", "raised", "both"), default="both")
    parser.add_argument("--keys", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=50.0, help="receipts a second")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds idle first")
    parser.add_argument("--view", type=float, default=10.0, help="seconds of page views")
    args = parser.parse_args()
    urls = []
    if args.database in ("sqlite", "both"):
        urls.append(("SQLite", ""))
    if args.database in ("postgres", "both"):
        urls.append(("PostgreSQL", args.postgres))
    print(f"receipts at {args.rate:g}/s; the page writes {args.keys} + {args.keys} keys; "
          f"load average {os.getloadavg()[0]:.1f}")
    print("| database | limits | phase | receipts | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|---|")
    for label, url in urls:
        for raised in {"default": (False,), "raised": (True,), "both": (False, True)}[args.limits]:
            result, notes = asyncio.run(run(args, url, raised))
            limits = "raised past the page" if raised else "default"
            for phase in PHASES:
                print(f"| {label} | {limits} | {phase} | {stats(result.by_phase[phase])} |")
            print(f"<!-- {label}, {limits}: {notes}; failed {result.failed} -->")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
