"""Benchmark: the admin's cookie inventory list at 200 and at 2,000 items, on PostgreSQL.

    .venv/bin/python bench/inventory_bench.py                       # 40 runs per page
    .venv/bin/python bench/inventory_bench.py --runs 10             # a quicker look
    .venv/bin/python bench/inventory_bench.py --database-url postgres://…/other

The database (``--database-url``, else ``CMP_BENCH_DATABASE_URL``, else
``postgres://postgres@127.0.0.1:5432/test_inventory``) is emptied and brought up through the
real migrations. Two sites, one with 200 items and one with 2,000, each with 100 vendors, are
written by bulk inserts: a quarter of the items without a purpose, 40 % unreviewed, one in ten
seen before consent, names spread over prefixes as a real site's are. Another site's 100,000
items (``--others``) share the table, so the list must find its own rows by index.

Every figure is a whole request through the ASGI app (httpx.ASGITransport: routing, session
and role check, the service's queries, the template), signed in as a privacy account. The two
sites' pages are requested in turn, round after round, so the machine's noise falls on both.
What matters is the ratio 2,000 / 200: paging is done by the database, so the page of 50 rows
should cost about the same however many items match (goal: at most 1.5).

Also timed: a bulk action on 50 ticked rows (one UPDATE and its 50 audit rows, then the
redirect's list page), and the list's SQL under EXPLAIN ANALYZE on the 2,000-item site.
A missed goal is printed, not an error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median, quantiles

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cmp_server.app import create_app  # noqa: E402
from cmp_server.models import InventoryItem, Purpose, Site, Vendor, vendor_sort  # noqa: E402
from cmp_server.services import sites, staff  # noqa: E402
from cmp_server.settings import Settings  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/test_inventory"
PASSWORD = "bench password, long enough"
VENDORS = 100
GOAL = 1.5
PAGES = {
    # what staff look at most: what is left to map to statistics, newest first
    "unreviewed + statistics, by last seen": "status=unreviewed&purpose=statistics&sort=-last_seen",
    "all, by vendor": "sort=vendor",
    "search 'ga', by name": "q=ga",
}
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
RANGE = re.compile(r"(\d+)–(\d+) of (\d+)")
PREFIXES = ("_ga_", "_hj", "wp_", "sess_", "_fbp", "ab_", "pref_", "cart_", "utm_", "x_")


async def reset(url: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    from cmp_server import db

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()
    await db.migrate(url)


async def seed(name: str, items: int) -> Site:
    """A site with 100 vendors and ``items`` items, written by two bulk inserts."""
    site = await sites.create_site(name, [f"{name.lower()}.example"], force=True)
    await Vendor.bulk_create([
        Vendor(site=site, key=f"vendor-{v:03d}", name=f"Vendor {v:03d}", country="SE",
               transfers_outside_eea=v % 3 == 0, description={})
        for v in range(VENDORS)
    ])
    vendors = [v.id for v in await Vendor.filter(site=site).order_by("id")]
    purposes = {p.key: p.id for p in await Purpose.filter(site=site)}
    keys = ["necessary", "preferences", "statistics", "marketing"]
    now = datetime.now(UTC)
    draw = random.Random(items)  # the same sites every run
    rows = []
    for i in range(items):
        key = draw.choice(keys) if draw.random() >= 0.25 else None  # a quarter unclassified
        rows.append(InventoryItem(
            site=site, name=f"{PREFIXES[i % len(PREFIXES)]}{i:05d}", kind="cookie",
            domain=f".{name.lower()}.example", vendor_id=vendors[i % VENDORS],
            vendor_sort=vendor_sort(f"Vendor {i % VENDORS:03d}"),
            purpose_id=purposes[key] if key else None, duration_days=(i % 400) or None,
            party="third" if i % 3 else "first", description={"en": f"Item {i}."},
            source="scan", review_status="unreviewed" if draw.random() < 0.4 else "reviewed",
            first_seen=now - timedelta(days=i % 90), last_seen=now - timedelta(hours=i % 700),
            suggested_purpose=key or "unclassified", suggested_vendor=f"vendor-{i % VENDORS:03d}",
            before_consent=draw.random() < 0.1,
        ))
    await InventoryItem.bulk_create(rows, batch_size=1000)
    return site


async def sign_in(client: httpx.AsyncClient, email: str) -> str:
    form = await client.get("/admin/login")
    found = TOKEN.search(form.text)
    assert found, "no sign-in form"
    r = await client.post("/admin/login", data={
        "csrf_token": found.group(1), "email": email, "password": PASSWORD})
    assert r.status_code == 303, r.text
    page = await client.get("/admin/")
    token = TOKEN.search(page.text)
    assert token, "not signed in"
    return token.group(1)


async def timed_get(client: httpx.AsyncClient, path: str) -> float:
    start = time.perf_counter()
    r = await client.get(path)
    elapsed = time.perf_counter() - start
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return elapsed * 1000


def summary(values: list[float]) -> str:
    p90 = quantiles(values, n=10)[-1] if len(values) >= 10 else max(values)
    return f"{median(values):7.1f} ms (p90 {p90:6.1f})"


async def explain(site: Site) -> None:
    """The list's own SQL (the page of 50 and its count) under EXPLAIN ANALYZE."""
    from tortoise import connections

    from cmp_server.services.inventory import ItemQuery, _filtered, _sorted

    query = ItemQuery(status="unreviewed", purpose="statistics", sort="-last_seen")
    qs = _sorted(await _filtered(site, query, None), query.sort).limit(50)
    conn = connections.get("default")
    page = qs.values("id", "name", "vendor__name", "purpose__key")
    count = (await _filtered(site, query, None)).count()
    for what, sql in (("page", page.sql(params_inline=True)),
                      ("count", count.sql(params_inline=True))):
        plan = await conn.execute_query_dict(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        lines = [row["QUERY PLAN"] for row in plan]
        scans = [line.strip().removeprefix("-> ") for line in lines if "Scan" in line]
        print(f"  EXPLAIN {what}: {lines[-1].strip()}; {' / '.join(scans)}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get(
        "CMP_BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--bulk-runs", type=int, default=10)
    parser.add_argument("--others", type=int, default=100_000,
                        help="items of other sites in the same table (default 100,000)")
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        sys.exit("the inventory bench runs on PostgreSQL")
    await reset(args.database_url)
    settings = Settings(environment="test", secret_key="bench-secret-key-not-for-production",
                        database_url=args.database_url, data_dir=Path(tempfile.mkdtemp()),
                        config_cache_seconds=0, run_worker=False)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        small, large = await seed("Small", 200), await seed("Large", 2000)
        from tortoise import connections

        if args.others:
            # Other sites' items share the table, as in a real deployment: the list must
            # find its site's rows by index, not by reading everyone's.
            other = await sites.create_site("Others", ["others.example"], force=True)
            await connections.get("default").execute_query(
                "INSERT INTO inventory_item (site_id, name, match, kind, party, description,"
                " source, review_status, before_consent, created_at)"
                " SELECT $1, 'o' || n, 'exact', 'cookie', 'first', '{}', 'scan', 'unreviewed',"
                " false, now() FROM generate_series(1, $2) AS n", [other.id, args.others])

        # As autovacuum would soon after a scan's inserts: the planner's row counts are real.
        await connections.get("default").execute_script("ANALYZE")
        account = await staff.create_staff("bench@inventory.example", PASSWORD, "privacy")
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            token = await sign_in(client, account.email)
            print(f"PostgreSQL {args.database_url.rsplit('@', 1)[-1]}, {args.runs} runs per "
                  f"page, sites of 200 and 2,000 items with {VENDORS} vendors each, "
                  f"{args.others:,} items of another site in the table; load average "
                  f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            ratios: dict[str, float] = {}
            for label, query in PAGES.items():
                paths = {n: f"/admin/sites/{s.key}/inventory?{query}"
                         for n, s in ((200, small), (2000, large))}
                shown = {}
                for n, path in paths.items():  # warm: templates compiled, caches filled
                    for _ in range(3):
                        await timed_get(client, path)
                    found = RANGE.search((await client.get(path)).text)
                    shown[n] = f"{found.group(2)} of {found.group(3)} rows" if found else "?"
                times: dict[int, list[float]] = {200: [], 2000: []}
                for _ in range(args.runs):
                    for n, path in paths.items():
                        times[n].append(await timed_get(client, path))
                ratio = median(times[2000]) / median(times[200])
                ratios[label] = ratio
                print(f"{label} (a page shows {shown[200]}; {shown[2000]}):\n"
                      f"  200 items {summary(times[200])}   2,000 items "
                      f"{summary(times[2000])}   ratio {ratio:.2f}")

            # A bulk action on 50 ticked rows of the large site, then the page it returns to.
            ids = [i.id for i in await InventoryItem.filter(site=large).order_by("id").limit(50)]
            bulk, back = [], []
            for run in range(args.bulk_runs):
                start = time.perf_counter()
                r = await client.post(f"/admin/sites/{large.key}/inventory/bulk", data={
                    "csrf_token": token, "back": "status=unreviewed&sort=-last_seen",
                    "action": "set_purpose",
                    "to_purpose": "marketing" if run % 2 else "statistics",
                    "item": [str(i) for i in ids]})
                bulk.append((time.perf_counter() - start) * 1000)
                assert r.status_code == 303, r.text[:300]
                back.append(await timed_get(client, r.headers["location"]))
            print(f"bulk action on 50 rows (POST, one UPDATE + 50 audit rows): {summary(bulk)}")
            print(f"  then the list it returns to: {summary(back)}")
            await explain(large)
    for label, ratio in ratios.items():
        verdict = "met" if ratio <= GOAL else "MISSED"
        print(f"goal 2,000 / 200 <= {GOAL} ({label}): {ratio:.2f} {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
