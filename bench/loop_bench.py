"""Benchmark: how long the event loop is held, at most, while a hostile scan is stored, stored
again and its page read, in this process (issue 20, 1).

    .venv/bin/python bench/loop_bench.py                 # SQLite, 5,000 + 5,000 keys
    .venv/bin/python bench/loop_bench.py --keys 1000 --database postgres://postgres@127.0.0.1/bench_loop

A receipt waits for whatever holds the event loop when it arrives. Each callback the loop runs
is timed by the CPU time of the loop's own thread (``time.thread_time``), so other processes
on a busy machine do not count, and work handed to threads (``asyncio.to_thread``) does not
either: what is printed is the longest stretch the loop could not answer a receipt, and how
many stretches were over 5 and over 20 ms. On SQLite a receipt also waits for the one
connection: the longest time it was held at once (a transaction holds it from begin to commit)
is printed too, in wall time. Wall time of each step is printed beside, for scale (wall times
depend on the machine's load).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from asyncio import events
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cmp_server import db  # noqa: E402
from scanner import ReportItem, ScanReport, TrackerRequest  # noqa: E402

_held: list[float] = []
_connection: list[float] = []
_run = events.Handle._run


class _TimedLock(asyncio.Lock):
    """The SQLite client's connection lock, noting how long each holder kept it."""

    _since = 0.0

    async def acquire(self) -> bool:
        await super().acquire()
        self._since = time.monotonic()
        return True

    def release(self) -> None:
        _connection.append(time.monotonic() - self._since)
        super().release()


def _timed(self: events.Handle) -> None:
    began = time.thread_time()
    _run(self)
    _held.append(time.thread_time() - began)


def hostile_report(keys: int) -> ScanReport:
    """What a scan without limits reported of the page: every key an item, in three passes."""
    now = datetime.now(UTC)
    items = tuple(
        ReportItem(kind=kind, name=f"{kind[0]}s-{n}", domain="127.0.0.1", path=None,  # type: ignore[arg-type]
                   party="first", vendor=None, category="unclassified",
                   passes=("none", "accept", "reject"), first_seen_url="https://127.0.0.1/",
                   set_by="script", initiator=None, expires_days=None, http_only=None,
                   secure=None, same_site=None)
        for kind in ("localStorage", "sessionStorage") for n in range(keys)
    )
    return ScanReport(
        start_url="https://127.0.0.1/", started_at=now, finished_at=now, pages=(), items=items,
        requests=(TrackerRequest(host="t.example", vendor=None, category="unclassified",
                                 passes=("none",), example_url="https://t.example/p"),),
        violations=(), passes=("none", "accept", "reject"),
    )


async def step(name: str, work: Any) -> Any:
    _held.clear()
    _connection.clear()
    began = time.monotonic()
    result = await work
    wall = time.monotonic() - began
    longest = max(_held, default=0.0) * 1000
    over5 = sum(1 for h in _held if h > 0.005)
    over20 = sum(1 for h in _held if h > 0.020)
    connection = f"{max(_connection) * 1000:.0f} ms" if _connection else "–"
    print(f"| {name} | {wall:.1f} s | {longest:.0f} ms | {over5} | {over20} | {connection} |")
    sys.stdout.flush()
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--keys", type=int, default=5000)
    parser.add_argument("--database", default="")
    args = parser.parse_args()
    url = args.database or f"sqlite://{tempfile.mkdtemp(prefix='loop-bench-')}/cmp.sqlite3"
    if url.startswith("postgres"):
        import asyncpg  # type: ignore[import-untyped]

        admin = url.rsplit("/", 1)[0] + "/postgres"
        conn = await asyncpg.connect(admin.replace("postgres://", "postgresql://", 1))
        name = url.rsplit("/", 1)[1]
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
    await db.open_database(url, run_migrations=True)
    from cmp_server.services import publishing, sites
    from cmp_server.services.scan_findings import scan_detail
    from cmp_server.services.scan_results import store_scan

    site = await sites.create_site("Hostile", ["hostile.example"], force=True)
    await publishing.publish(site)
    report = hostile_report(args.keys)
    print(f"{url.split(':')[0]}, {2 * args.keys} items")
    print("| step | wall | longest hold of the loop (CPU) | holds > 5 ms | holds > 20 ms "
          "| longest hold of SQLite's connection |")
    print("|---|---|---|---|---|---|")
    if url.startswith("sqlite"):
        from tortoise import connections

        connections.get("default")._lock = _TimedLock()
    events.Handle._run = _timed  # type: ignore[method-assign]
    try:
        scan = await step("store the scan", store_scan(site, report))
        await step("read its page", scan_detail(site, str(scan.id)))
        from cmp_server.services import scan_results

        scan_results._REPORTS.clear()  # as after a restart: read from the database
        await step("read its page, the report not kept", scan_detail(site, str(scan.id)))
        await step("store it again (every item seen)", store_scan(site, report))
    finally:
        events.Handle._run = _run  # type: ignore[method-assign]
        await db.close_database()


if __name__ == "__main__":
    asyncio.run(main())
