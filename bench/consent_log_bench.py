"""Benchmark: the consent log's searches at 10 million receipts on PostgreSQL.

    .venv/bin/python bench/consent_log_bench.py                  # load 10 M once, then time
    .venv/bin/python bench/consent_log_bench.py --rows 1000000   # a smaller table
    .venv/bin/python bench/consent_log_bench.py --reload         # drop and load again
    .venv/bin/python bench/consent_log_bench.py --method-index   # also try (site_id, method,
                                                                 #  recorded_at, id)

The table is brought up by the real migrations in its own database (``bench_consents``, never
``test``), then filled by ``generate_series`` in one-million-row statements through the
migrated indexes and triggers: 90 % of the rows on one site over a year, 10 % on another, a
writer batch's 64 receipts sharing one instant, each visitor with three receipts spread over
the year and chained (``previous_receipt_id``). Methods 55 % accept all, 30 % reject all,
10 % custom, 3 % withdraw, 2 % GPC; languages 60 % sv, 25 % en, 15 % da; choices as each
method allows.

Each search is the service call the admin page makes (``consent_log.search``, ``count``, the
export stream), timed warm (median of ``--repeat`` runs, after one run to warm the cache).
Every SQL statement a call sends is then run again under EXPLAIN (ANALYZE, BUFFERS), and the
plan's top node, execution time and buffers are printed beside the timing.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

import asyncpg  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cmp_server import db  # noqa: E402
from cmp_server.services import consent_log, export, publishing, sites  # noqa: E402
from cmp_server.services.consent_log import ReceiptFilter  # noqa: E402

START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN_DAYS = 365
BATCH = 64
UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36")

# Row $1 + i of $2 rows in all, for site $3 (its share of the visitors: $4 chains of three).
_LOAD = f"""
INSERT INTO consent_receipt (receipt_id, consent_id, site_id, config_version, texts_hash,
    language, choices, method, layer, page_url, recorded_at, expires_at, user_agent,
    ip_truncated, previous_receipt_id, content_hash, record_hash)
SELECT md5('r' || $3::int || '-' || n)::uuid,
       md5('c' || $3::int || '-' || (n % $4::bigint))::uuid,
       $3::int, 1, md5('t') || md5('t'),
       CASE WHEN h % 100 < 60 THEN 'sv' WHEN h % 100 < 85 THEN 'en' ELSE 'da' END,
       CASE WHEN m < 55 THEN
              '{{"necessary": true, "preferences": true, "statistics": true, "marketing": true}}'
            WHEN m >= 65 THEN
              '{{"necessary": true, "preferences": false, "statistics": false, "marketing": false}}'
            ELSE json_build_object('necessary', true, 'preferences', h % 2 = 0,
                                   'statistics', h % 3 > 0, 'marketing', h % 5 = 0)::text
       END::jsonb,
       CASE WHEN m < 55 THEN 'accept_all' WHEN m < 65 THEN 'custom' WHEN m < 95 THEN 'reject_all'
            WHEN m < 98 THEN 'withdraw' ELSE 'gpc' END,
       CASE WHEN m >= 55 AND m < 65 THEN 'second' ELSE 'first' END,
       'https://www.kursgarden.se/kurser/' || (n % 500),
       at, at + interval '180 days', '{UA}', '192.0.2.0',
       CASE WHEN n >= $4::bigint THEN md5('r' || $3::int || '-' || (n - $4::bigint))::uuid END,
       md5('c' || n) || md5('c'), md5('h' || n) || md5('h')
FROM (
    SELECT n, abs(hashtext('m' || n)) % 100 AS m, abs(hashtext('h' || n)) AS h,
           '{START.isoformat()}'::timestamptz
             + ((n / {BATCH}) * {BATCH})::float8 / $2::float8 * interval '{SPAN_DAYS} days' AS at
    FROM generate_series($1::bigint, $1::bigint + $5 - 1) AS n
) s
"""


def dsn_of(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


async def ensure_database(admin: str, name: str) -> None:
    con = await asyncpg.connect(admin)
    try:
        if not await con.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await con.execute(f'CREATE DATABASE "{name}"')
    finally:
        await con.close()


async def load(url: str, rows: int) -> dict[str, int]:
    """Sites and receipts; the site ids by name."""
    dsn = dsn_of(url)
    con = await asyncpg.connect(dsn)
    await con.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    await con.close()
    await db.migrate(url)
    await db.open_database(url, run_migrations=False)
    try:
        big = await sites.create_site("Kursgården", ["kursgarden.se"])
        small = await sites.create_site("Other", ["other.example"])
        for site in (big, small):
            await publishing.publish(site)
    finally:
        await db.close_database()
    con = await asyncpg.connect(dsn)
    try:
        chunk = 1_000_000
        for site_id, share in ((big.id, rows * 9 // 10), (small.id, rows - rows * 9 // 10)):
            chains = max(share // 3, 1)
            done = 0
            while done < share:
                n = min(chunk, share - done)
                t = time.perf_counter()
                await con.execute(_LOAD, done, float(share), site_id, chains, n)
                done += n
                print(f"  site {site_id}: {done:,}/{share:,} rows "
                      f"({n / (time.perf_counter() - t):,.0f} rows/s)", flush=True)
        t = time.perf_counter()
        await con.execute("VACUUM ANALYZE consent_receipt")
        print(f"  vacuum analyze: {time.perf_counter() - t:.0f} s", flush=True)
    finally:
        await con.close()
    return {"big": big.id, "small": small.id}


class Recorder:
    """Keeps the SQL each service call sends, to EXPLAIN it afterwards."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, list[Any]]] = []

    def install(self) -> None:
        from tortoise import connections

        client = connections.get("default")
        kinds = (client.execute_query, client.execute_query_dict)
        for name, original in zip(("execute_query", "execute_query_dict"), kinds, strict=True):

            async def wrapped(query: str, values: list[Any] | None = None,
                              _original: Any = original) -> Any:
                self.statements.append((query, list(values or [])))
                return await _original(query, values)

            setattr(client, name, wrapped)


async def explain(con: Any, query: str, values: list[Any]) -> str:
    plan = await con.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {query}", *values)
    import json

    top = json.loads(plan)[0]
    node = top["Plan"]

    def describe(n: dict[str, Any]) -> str:
        name = n["Node Type"]
        if "Index Name" in n:
            name += f" {n['Index Name']}"
        return name

    # The first node that reads the table says how the rows are found.
    path, scan = [], node
    while True:
        path.append(describe(scan))
        children = scan.get("Plans") or []
        if not children or "Index Name" in scan or (
            scan["Node Type"].endswith("Scan") and scan["Node Type"] != "Subquery Scan"
        ):
            break
        scan = children[0]
    hits = node.get("Shared Hit Blocks", 0) + node.get("Shared Read Blocks", 0)
    return (f"{top['Execution Time']:.2f} ms, {hits:,} buffers, rows read "
            f"{scan.get('Actual Rows', 0) * scan.get('Actual Loops', 1):,}: {' > '.join(path)}")


async def timed(call: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    result = await call()  # warm
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = await call()
        times.append((time.perf_counter() - t) * 1000)
    return median(times), result


async def bench(url: str, repeat: int, method_index: bool) -> None:
    await db.open_database(url, run_migrations=False)
    recorder = Recorder()
    recorder.install()
    con = await asyncpg.connect(dsn_of(url))
    try:
        if method_index:
            await con.execute(
                "CREATE INDEX IF NOT EXISTS bench_site_method ON consent_receipt"
                " (site_id, method, recorded_at, id)"
            )
            await con.execute("ANALYZE consent_receipt")
        else:
            await con.execute("DROP INDEX IF EXISTS bench_site_method")
        total = await con.fetchval("SELECT count(*) FROM consent_receipt")
        site = await sites.get_site(
            await con.fetchval("SELECT key FROM site WHERE name = 'Kursgården'")
        )
        visitor = await con.fetchval(
            "SELECT consent_id FROM consent_receipt WHERE site_id = $1 ORDER BY id LIMIT 1"
            " OFFSET 123456", site.id
        )
        receipt = await con.fetchval(
            "SELECT receipt_id FROM consent_receipt WHERE site_id = $1 ORDER BY id LIMIT 1"
            " OFFSET 654321", site.id
        )
        march = ReceiptFilter(start=datetime(2025, 3, 1, tzinfo=UTC),
                              end=datetime(2025, 4, 1, tzinfo=UTC))
        print(f"{total:,} receipts; site {site.key}; method index: {method_index}\n")

        async def cursor_of(where: ReceiptFilter, page: int) -> consent_log.Cursor | None:
            """Where page ``page`` (1 = the first) of ``where`` starts."""
            after = None
            for _ in range(page - 1):
                after = (await consent_log.search(site, where, after=after)).next
                assert after is not None
            return after

        def search(where: ReceiptFilter, page: int = 1) -> Callable[[], Awaitable[Any]]:
            after = cursors[(where, page)] if page > 1 else None
            return lambda: consent_log.search(site, where, after=after)

        cursors: dict[tuple[ReceiptFilter, int], consent_log.Cursor | None] = {}
        withdrawn = ReceiptFilter(method="withdraw", purpose="marketing", granted=False)
        for where, page in ((march, 20), (withdrawn, 3)):
            cursors[(where, page)] = await cursor_of(where, page)

        async def export_month() -> int:
            stream = export.export_receipts(site, "jsonl", where=march)
            return sum([chunk.count(b"\n") async for chunk in stream])

        cases: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("by consent id", search(ReceiptFilter(consent_id=visitor))),
            ("by receipt id", search(ReceiptFilter(receipt_id=receipt))),
            ("newest page, no filter", search(ReceiptFilter())),
            ("a month (March), page 1", search(march)),
            ("a month (March), page 20", search(march, 20)),
            ("method withdraw + marketing refused, page 1", search(withdrawn)),
            ("method withdraw + marketing refused, page 3", search(withdrawn, 3)),
            ("custom + statistics granted, March, page 1",
             search(ReceiptFilter(method="custom", purpose="statistics", granted=True,
                                  start=march.start, end=march.end))),
            ("language da, March, page 1",
             search(ReceiptFilter(language="da", start=march.start, end=march.end))),
            ("no match: gpc + marketing granted (one window)",
             search(ReceiptFilter(method="gpc", purpose="marketing", granted=True))),
            ("count, March", lambda: consent_log.count(site, march)),
            ("count, March, method custom",
             lambda: consent_log.count(site, ReceiptFilter(method="custom", start=march.start,
                                                           end=march.end))),
        ]
        print("| search | service call, median ms | rows | PostgreSQL per statement |")
        print("|---|---|---|---|")
        for name, call in cases:
            ms, result = await timed(call, repeat)
            recorder.statements.clear()
            await call()
            plans = [await explain(con, q, v) for q, v in recorder.statements
                     if q.lstrip().upper().startswith("SELECT")]
            rows = (len(result.receipts) if isinstance(result, consent_log.LogPage)
                    else result)
            print(f"| {name} | {ms:.1f} | {rows:,} | " + "<br>".join(plans) + " |", flush=True)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        rows = await export_month()
        seconds = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"\nexport, March as JSON Lines: {rows:,} rows in {seconds:.1f} s "
              f"({rows / seconds:,.0f} rows/s); peak RSS {before / 1024:.0f} → "
              f"{after / 1024:.0f} MB")
    finally:
        await con.close()
        await db.close_database()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--database", default="bench_consents")
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--reload", action="store_true", help="drop and load the table again")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--method-index", action="store_true")
    args = p.parse_args(argv)
    if args.database in ("test", "postgres"):
        p.error("use a database of its own")
    base = args.admin_dsn.rsplit("/", 1)[0]
    url = f"{base.replace('postgresql://', 'postgres://', 1)}/{args.database}"

    async def run() -> None:
        await ensure_database(args.admin_dsn, args.database)
        con = await asyncpg.connect(dsn_of(url))
        try:
            loaded = 0
            if await con.fetchval("SELECT to_regclass('consent_receipt') IS NOT NULL"):
                loaded = await con.fetchval("SELECT count(*) FROM consent_receipt")
        finally:
            await con.close()
        if args.reload or loaded != args.rows:
            print(f"loading {args.rows:,} receipts into {args.database}", flush=True)
            t = time.perf_counter()
            await load(url, args.rows)
            print(f"loaded in {time.perf_counter() - t:.0f} s\n", flush=True)
        await bench(url, args.repeat, args.method_index)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
