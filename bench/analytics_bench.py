"""Benchmark: the consent-rate chart read from the counters, against the naive GROUP BY over the
raw receipts, side by side, at 1 M and 10 M receipts on PostgreSQL.

    .venv/bin/python bench/analytics_bench.py                    # 1 M, then 10 M receipts
    .venv/bin/python bench/analytics_bench.py --sizes 100000,1000000 --runs 3   # a quick look

Receipts are bulk-loaded (one ``INSERT … SELECT FROM generate_series`` per million, not through
HTTP) into a database of their own (``bench_counters``, created if missing, migrated with the
real migrations): five sites of unequal size (40, 25, 15, 12 and 8 % of the receipts), a year
of days with more receipts lately, the five methods (accept all 55 %, reject all 25 %, custom
12 %, withdraw 3 %, GPC 5 %) and the four purposes of a new site with the choices each method
allows. The counters are then built by ``counters.recount`` (the recount's GROUP BY, written
with the writer's own upsert), vacuumed as autovacuum would, checked against the receipts,
and the reads are timed, each the median of ``--runs`` after one untimed run, on the largest
site over its last 365 days:

- chart: what the page reads, ``analytics.outcomes`` and ``analytics.purpose_rates``, through
  the ORM, by day and by week;
- naive: the same numbers from a GROUP BY over the raw receipts (``counters.raw_counts``,
  bucketed by week in Python for the week figure);
- page: the whole admin page (``GET /admin/sites/KEY/analytics``, a year by day: 366 table
  rows, the SVG, the purposes), in process over ASGI, signed in as a viewer.

Each size prints its times and the ratio naive/chart; the end, chart at the largest size over
chart at the smallest (flat: about 1). Goal: at least 50x at 10 M, and flat.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SITE_SHARES = (0.40, 0.25, 0.15, 0.12, 0.08)
CHUNK = 1_000_000
PASSWORD = "bench password, not for production"

# One receipt per i: site, method and choices from random() (seeded per chunk), recorded on a
# day of the last year, more of them lately (power < 1 leans toward 0 days ago).
_LOAD = """
INSERT INTO consent_receipt (receipt_id, consent_id, site_id, config_version, texts_hash,
    language, choices, method, layer, page_url, recorded_at, expires_at, user_agent,
    ip_truncated, previous_receipt_id, content_hash, record_hash)
SELECT gen_random_uuid(), gen_random_uuid(), site_id, 1, 'bench', 'en',
    CASE method
      WHEN 'accept_all' THEN '{"necessary": true, "preferences": true, "statistics": true,
                               "marketing": true}'::jsonb
      WHEN 'reject_all' THEN '{"necessary": true, "preferences": false, "statistics": false,
                               "marketing": false}'::jsonb
      WHEN 'withdraw' THEN '{"necessary": true, "preferences": false, "statistics": false,
                             "marketing": false}'::jsonb
      ELSE jsonb_build_object('necessary', true, 'preferences', random() < 0.4,
                              'statistics', random() < 0.6,
                              'marketing', method = 'custom' AND random() < 0.3)
    END,
    method, 'first', 'https://www.bench.example/', at, at + interval '180 days', 'bench', NULL,
    NULL, 'bench', 'bench'
FROM (
  SELECT i,
    ($2::int[])[1 + (r1 >= 0.40)::int + (r1 >= 0.65)::int + (r1 >= 0.80)::int
                  + (r1 >= 0.92)::int] AS site_id,
    CASE WHEN r2 < 0.55 THEN 'accept_all' WHEN r2 < 0.80 THEN 'reject_all'
         WHEN r2 < 0.92 THEN 'custom' WHEN r2 < 0.95 THEN 'withdraw' ELSE 'gpc' END AS method,
    $3::timestamptz - floor(365 * power(r3, 0.8)) * interval '1 day'
      - r4 * interval '1 day' AS at
  FROM (SELECT i, random() AS r1, random() AS r2, random() AS r3, random() AS r4
        FROM generate_series(1, $1::int) AS i) drawn
) picked
"""


def with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


async def ensure_database(admin_dsn: str, name: str) -> None:
    if name in ("test", "postgres") or not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"refusing database name {name!r}")
    con = await asyncpg.connect(admin_dsn.replace("postgres://", "postgresql://", 1))
    try:
        if not await con.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await con.execute(f'CREATE DATABASE "{name}"')
    finally:
        await con.close()


async def median_ms(work: Callable[[], Awaitable[Any]], runs: int) -> tuple[float, Any]:
    result = await work()  # warm: plans, caches
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        result = await work()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), result


def _by_week(counts: list[Any], start: date, end: date) -> dict[tuple[date, str, str], int]:
    from cmp_server.services import analytics

    weeks = analytics.buckets(start, end, "week")
    where = {}
    for first, last in weeks:
        for i in range((last - first).days + 1):
            where[first + timedelta(days=i)] = first
    out: dict[tuple[date, str, str], int] = {}
    for c in counts:
        key = (where[c.day], c.method, c.purpose)
        out[key] = out.get(key, 0) + c.receipts
    return out


async def run(args: argparse.Namespace) -> int:
    import httpx

    from cmp_server.app import create_app
    from cmp_server.models import Site
    from cmp_server.services import analytics, counters, sites, staff
    from cmp_server.settings import Settings

    await ensure_database(args.admin_dsn, args.database)
    url = with_database(args.admin_dsn, args.database)
    dsn = url.replace("postgres://", "postgresql://", 1)
    from cmp_server import db

    await db.migrate(url)
    settings = Settings(environment="test", database_url=url, secret_key=secrets.token_hex(32),
                        run_worker=False, data_dir=Path("/tmp"))
    app = create_app(settings)
    con = await asyncpg.connect(dsn)
    rows_out = []
    try:
        async with app.router.lifespan_context(app):
            await con.execute("TRUNCATE consent_daily, consent_receipt, audit_entry,"
                              " staff_session, staff, purpose, config_version, site"
                              " RESTART IDENTITY CASCADE")
            made = [await sites.create_site(f"Bench {n}", [f"bench{n}.example"], force=True)
                    for n in range(len(SITE_SHARES))]
            await staff.create_staff("viewer@bench.example", PASSWORD, "viewer")
            site_ids = [s.id for s in made]
            big = made[0]
            now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            end = (now - timedelta(days=1)).date()
            start = end - timedelta(days=364)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as web:
                form = await web.get("/admin/login")
                token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
                assert token, "no sign-in form"
                signed = await web.post("/admin/login", data={
                    "csrf_token": token.group(1), "email": "viewer@bench.example",
                    "password": PASSWORD})
                assert signed.status_code == 303, signed.text
                loaded = 0
                for size in args.sizes:
                    began = time.perf_counter()
                    while loaded < size:
                        n = min(CHUNK, size - loaded)
                        await con.execute("SELECT setseed($1)", (loaded % 997) / 997)
                        await con.execute(_LOAD, n, site_ids, now)
                        loaded += n
                        print(f"  loaded {loaded:,} receipts", flush=True)
                    await con.execute("ANALYZE consent_receipt")
                    load_s = time.perf_counter() - began
                    began = time.perf_counter()
                    for s in made:
                        await counters.recount(s)
                    # What autovacuum does next: a recount that changed every counter left
                    # as many dead row versions as live ones.
                    await con.execute("VACUUM (ANALYZE) consent_daily")
                    recount_s = time.perf_counter() - began
                    # The counters hold every receipt, and a week of them equals the raw count.
                    per_site = dict(await con.fetch(
                        "SELECT site_id, count(*) FROM consent_receipt GROUP BY 1"))
                    counted = dict(await con.fetch(
                        "SELECT site_id, sum(receipts) FROM consent_daily WHERE purpose = ''"
                        " GROUP BY 1"))
                    assert per_site == counted, (per_site, counted)
                    week = (end - timedelta(days=6), end)
                    assert await counters.stored_counts(big, *week) == \
                        await counters.raw_counts(big, *week)
                    counter_rows = await con.fetchval("SELECT count(*) FROM consent_daily")
                    site = await Site.get(id=big.id)

                    async def chart(bucket: str, site: Site = site) -> Any:
                        return (await analytics.outcomes(site, start, end, bucket),  # type: ignore[arg-type]
                                await analytics.purpose_rates(site, start, end, bucket))  # type: ignore[arg-type]

                    async def naive(bucket: str, site: Site = site) -> Any:
                        raw = await counters.raw_counts(site, start, end)
                        return raw if bucket == "day" else _by_week(raw, start, end)

                    async def page(key: str = site.key) -> Any:
                        r = await web.get(f"/admin/sites/{key}/analytics",
                                          params={"from": start.isoformat(),
                                                  "to": end.isoformat()})
                        assert r.status_code == 200, r.status_code
                        return r

                    row: dict[str, Any] = {"size": size, "load_s": load_s,
                                           "recount_s": recount_s, "counter_rows": counter_rows,
                                           "site_receipts": per_site[big.id]}
                    for bucket in ("day", "week"):
                        row[f"chart_{bucket}"], found = await median_ms(
                            lambda b=bucket: chart(b), args.chart_runs)
                        row[f"naive_{bucket}"], _ = await median_ms(
                            lambda b=bucket: naive(b), args.runs)
                        assert found[0].total == sum(
                            c.receipts for c in await counters.raw_counts(site, start, end)
                            if c.purpose == "")
                    row["page"], _ = await median_ms(page, args.chart_runs)
                    rows_out.append(row)
                    print(f"{size:>12,} receipts (site {row['site_receipts']:,}):"
                          f" chart day {row['chart_day']:.1f} ms, week {row['chart_week']:.1f}"
                          f" ms; naive day {row['naive_day']:.0f} ms, week"
                          f" {row['naive_week']:.0f} ms; ratio day"
                          f" {row['naive_day'] / row['chart_day']:.0f}x, week"
                          f" {row['naive_week'] / row['chart_week']:.0f}x; page"
                          f" {row['page']:.0f} ms; load {load_s:.0f} s, recount"
                          f" {recount_s:.1f} s, {counter_rows:,} counter rows", flush=True)
    finally:
        await con.close()
    report(args, rows_out)
    return 0


def report(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    print()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, PostgreSQL database {args.database!r},"
          f" largest site, its last 365 days; median of {args.chart_runs} (chart, page) and"
          f" {args.runs} (naive) runs")
    print("| receipts | site's receipts | chart by day ms | chart by week ms | naive by day ms"
          " | naive by week ms | ratio day | ratio week | page ms | counter rows |"
          " load s | recount s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']:,} | {r['site_receipts']:,} | {r['chart_day']:.1f} |"
              f" {r['chart_week']:.1f} | {r['naive_day']:,.0f} | {r['naive_week']:,.0f} |"
              f" {r['naive_day'] / r['chart_day']:,.0f}x |"
              f" {r['naive_week'] / r['chart_week']:,.0f}x | {r['page']:.0f} |"
              f" {r['counter_rows']:,} | {r['load_s']:.0f} |"
              f" {r['recount_s']:.1f} |")
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        print(f"flat: chart by day at {last['size']:,} / at {first['size']:,} ="
              f" {last['chart_day'] / first['chart_day']:.2f}, by week"
              f" {last['chart_week'] / first['chart_week']:.2f}; naive by day"
              f" {last['naive_day'] / first['naive_day']:.1f}")
    ratio = rows[-1]["naive_day"] / rows[-1]["chart_day"]
    goal = "pass" if ratio >= 50 else "FAIL"
    print(f"goal >= 50x at {rows[-1]['size']:,}: {ratio:,.0f}x by day ({goal})")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--sizes", default="1000000,10000000",
                   help="receipt counts to measure at, ascending (each loads the difference)")
    p.add_argument("--runs", type=int, default=5, help="timed runs of the naive query")
    p.add_argument("--chart-runs", type=int, default=21,
                   help="timed runs of the chart and of the page")
    p.add_argument("--admin-dsn", default="postgres://postgres@127.0.0.1:5432/postgres",
                   help="where to create the bench database")
    p.add_argument("--database", default="bench_counters",
                   help="the bench database (emptied; never 'test')")
    args = p.parse_args(argv)
    args.sizes = sorted(int(s) for s in args.sizes.split(","))
    return args


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
