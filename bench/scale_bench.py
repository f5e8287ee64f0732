"""Benchmark: the inventory list and the audit log at 20,000 entries against 2,000, on PostgreSQL.

    .venv/bin/python bench/scale_bench.py                  # 30 runs per page
    .venv/bin/python bench/scale_bench.py --runs 10        # a quicker look
    .venv/bin/python bench/scale_bench.py --database-url postgres://…/other

The database (``--database-url``, else ``CMP_BENCH_DATABASE_URL``, else
``postgres://postgres@127.0.0.1:5432/test_scale``) is emptied and brought up through the real
migrations. Issue 19's goal: the admin's two long lists stay at most 1.5 times slower at 20,000
entries than at 2,000.

- Inventory: two sites, one of 2,000 items and one of 20,000, written as
  ``bench/inventory_bench.py`` writes them (100 vendors each, a quarter unclassified, 40 %
  unreviewed). Their pages are requested in turn, round after round, so the machine's noise
  falls on both alike.
- Audit log: the log is one table for every site, so "2,000 entries" is the whole log. It is
  measured twice in one run: with 2,000 entries, then after 18,000 more are written (20,000),
  the same pages each time. Entries are spread over 12 actions, 3 accounts, both sites and
  90 days, each with a before and an after as the services write them.

Every figure is a whole request through the ASGI app (httpx.ASGITransport: routing, session
and role check, the services' queries, the template), signed in as a privacy account; median
(p90). A missed goal is printed, not an error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from inventory_bench import (  # noqa: E402
    PAGES,
    PASSWORD,
    RANGE,
    reset,
    seed,
    sign_in,
    summary,
    timed_get,
)

from cmp_server.app import create_app  # noqa: E402
from cmp_server.models import Site  # noqa: E402
from cmp_server.services import staff  # noqa: E402
from cmp_server.settings import Settings  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/test_scale"
GOAL = 1.5
SMALL, LARGE = 2_000, 20_000
ACTIONS = ("item.update", "item.bulk", "banner.texts", "site.update", "scan.request",
           "publish", "vendor.update", "staff.sign_in", "export.receipts", "purpose.update",
           "blocking.rule", "staff.role")
ENTRIES = re.compile(r'audit-entry"')


async def write_audit(sites: list[Site], accounts: list[int], start: int, n: int) -> None:
    """``n`` audit entries numbered from ``start``, by one INSERT … SELECT; ``staff.role``
    (the last action) is one entry in 200, the rest spread evenly."""
    from tortoise import connections

    now = datetime.now(UTC)
    await connections.get("default").execute_query(
        "INSERT INTO audit_entry (at, staff_id, actor, site_id, action, object_type, object_id,"
        " before, after)"
        " SELECT $1::timestamptz - (n % 90) * interval '1 day' - (n % 1440) * interval '1 minute',"
        " ($2::int[])[1 + n % 3], 'staff' || (n % 3) || '@bench.example',"
        " CASE WHEN n % 200 = 0 THEN NULL ELSE ($3::int[])[1 + n % 2] END,"
        " CASE WHEN n % 200 = 0 THEN 'staff.role' ELSE ($4::text[])[1 + n % 11] END,"
        " 'inventory_item', (n % 5000)::text,"
        " jsonb_build_object('name', 'Kursgården ' || n, 'purpose', 'statistics',"
        "   'description', repeat('Ett längre värde. ', 6)),"
        " jsonb_build_object('name', 'Kursgården ' || n, 'purpose', 'marketing',"
        "   'description', repeat('Ett längre värde. ', 7))"
        " FROM generate_series($5::int, $6::int) AS n",
        [now, accounts, [s.id for s in sites], list(ACTIONS[:11]), start, start + n - 1],
    )
    await connections.get("default").execute_script("ANALYZE audit_entry")


async def audit_pages(sites: list[Site]) -> dict[str, str]:
    from cmp_server.models import AuditEntry

    week = datetime.now(UTC).date() - timedelta(days=6)
    ids = sorted(await AuditEntry.all().values_list("id", flat=True))
    middle = ids[len(ids) // 2]
    return {
        "newest, no filter": "/admin/audit",
        "one site": f"/admin/audit?site={sites[0].id}",
        "one action family (item)": "/admin/audit?action=item",
        "a rare action (staff.role, 1 in 200)": "/admin/audit?action=staff.role",
        "last 7 days": f"/admin/audit?from={week.isoformat()}",
        "an older page (keyset, halfway back)": f"/admin/audit?before={middle}",
    }


async def time_audit(client: httpx.AsyncClient, pages: dict[str, str], runs: int
                     ) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {label: [] for label in pages}
    for path in pages.values():  # warm
        for _ in range(3):
            await timed_get(client, path)
    for _ in range(runs):
        for label, path in pages.items():
            times[label].append(await timed_get(client, path))
    return times


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get(
        "CMP_BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        sys.exit("the scale bench runs on PostgreSQL")
    await reset(args.database_url)
    settings = Settings(environment="test", secret_key="bench-secret-key-not-for-production",
                        database_url=args.database_url, data_dir=Path(tempfile.mkdtemp()),
                        config_cache_seconds=0, run_worker=False)
    app = create_app(settings)
    ratios: dict[str, float] = {}
    async with app.router.lifespan_context(app):
        from tortoise import connections

        small, large = await seed("Small", SMALL), await seed("Large", LARGE)
        account = await staff.create_staff("bench@scale.example", PASSWORD, "privacy")
        others = [(await staff.create_staff(f"staff{i}@bench.example", PASSWORD, "privacy")).id
                  for i in range(2)]
        accounts = [account.id, *others]
        await connections.get("default").execute_script("ANALYZE")
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            await sign_in(client, account.email)
            print(f"PostgreSQL {args.database_url.rsplit('@', 1)[-1]}, {args.runs} runs per "
                  f"page; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            print(f"Inventory list, sites of {SMALL:,} and {LARGE:,} items, in turn:")
            for label, query in PAGES.items():
                paths = {n: f"/admin/sites/{s.key}/inventory?{query}"
                         for n, s in ((SMALL, small), (LARGE, large))}
                shown = {}
                for n, path in paths.items():
                    for _ in range(3):
                        await timed_get(client, path)
                    found = RANGE.search((await client.get(path)).text)
                    shown[n] = f"{found.group(2)} of {found.group(3)}" if found else "?"
                times: dict[int, list[float]] = {SMALL: [], LARGE: []}
                for _ in range(args.runs):
                    for n, path in paths.items():
                        times[n].append(await timed_get(client, path))
                ratio = median(times[LARGE]) / median(times[SMALL])
                ratios[f"inventory: {label}"] = ratio
                print(f"  {label} ({shown[SMALL]}; {shown[LARGE]}):\n"
                      f"    {SMALL:,} {summary(times[SMALL])}   {LARGE:,} "
                      f"{summary(times[LARGE])}   ratio {ratio:.2f}")

            await write_audit([small, large], accounts, 1, SMALL)
            pages = await audit_pages([small, large])
            shown_small = {label: len(ENTRIES.findall((await client.get(p)).text))
                           for label, p in pages.items()}
            before = await time_audit(client, pages, args.runs)
            await write_audit([small, large], accounts, SMALL + 1, LARGE - SMALL)
            pages = await audit_pages([small, large])
            shown_large = {label: len(ENTRIES.findall((await client.get(p)).text))
                           for label, p in pages.items()}
            after = await time_audit(client, pages, args.runs)
            print(f"Audit log, {SMALL:,} entries, then {LARGE:,}:")
            for label in pages:
                ratio = median(after[label]) / median(before[label])
                ratios[f"audit: {label}"] = ratio
                print(f"  {label} ({shown_small[label]} shown; {shown_large[label]}):\n"
                      f"    {SMALL:,} {summary(before[label])}   {LARGE:,} "
                      f"{summary(after[label])}   ratio {ratio:.2f}")
    for label, ratio in ratios.items():
        verdict = "met" if ratio <= GOAL else "MISSED"
        print(f"goal {LARGE:,} / {SMALL:,} <= {GOAL} ({label}): {ratio:.2f} {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
