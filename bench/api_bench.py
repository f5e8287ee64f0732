"""Benchmark: the JSON admin API's inventory list against the HTML list, at 20,000 items, on
PostgreSQL (issue 22's goal: the API within 1.2 times the HTML list).

    .venv/bin/python bench/api_bench.py                  # 40 runs per page
    .venv/bin/python bench/api_bench.py --runs 10        # a quicker look

The database (``--database-url``, else ``CMP_BENCH_DATABASE_URL``, else
``postgres://postgres@127.0.0.1:5432/api_bench``) is emptied and brought up through the real
migrations; a site of 20,000 items and 100 vendors is written as ``inventory_bench.seed``
writes them. Every figure is a whole request through the ASGI app (httpx.ASGITransport): the
HTML list signed in as a privacy account (session, role and site check, the service's
queries, each row's version, the template), the API list with a read token (token lookup,
rate limit, role and site check, the same service calls, JSON). The two are requested in
turn, for the same query strings, so the machine's noise falls on both. A missed goal is
printed, not an error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from statistics import median

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from inventory_bench import PAGES, PASSWORD, reset, seed, sign_in, summary, timed_get  # noqa: E402

from cmp_server._utils import utcnow  # noqa: E402
from cmp_server.app import create_app  # noqa: E402
from cmp_server.services import api_tokens, staff  # noqa: E402
from cmp_server.settings import Settings  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/api_bench"
ITEMS = 20_000
GOAL = 1.2


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get(
        "CMP_BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--items", type=int, default=ITEMS)
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        sys.exit("the API bench runs on PostgreSQL")
    await reset(args.database_url)
    settings = Settings(environment="test", secret_key="bench-secret-key-not-for-production",
                        database_url=args.database_url, data_dir=Path(tempfile.mkdtemp()),
                        config_cache_seconds=0, run_worker=False,
                        api_requests_per_minute=1_000_000)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        from tortoise import connections

        site = await seed("Large", args.items)
        await connections.get("default").execute_script("ANALYZE")
        account = await staff.create_staff("bench@api.example", PASSWORD, "privacy")
        owner = await staff.create_staff("owner@api.example", PASSWORD, "owner")
        issued = await api_tokens.create_token(
            "bench", "read", [site.id], utcnow() + timedelta(days=1),
            by=staff.Actor(id=owner.id, email=owner.email, name="", role="owner",
                           session_id="", csrf_token=""))
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as html, \
                httpx.AsyncClient(transport=transport, base_url="http://bench", headers={
                    "Authorization": f"Bearer {issued.secret}"}) as api:
            await sign_in(html, account.email)
            print(f"PostgreSQL {args.database_url.rsplit('@', 1)[-1]}, {args.runs} runs per "
                  f"page, a site of {args.items:,} items; load average "
                  f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            ratios: dict[str, float] = {}
            for label, query in PAGES.items():
                paths = {"html": (html, f"/admin/sites/{site.key}/inventory?{query}"),
                         "api": (api, f"/admin/api/v1/sites/{site.key}/inventory?{query}")}
                for client, path in paths.values():  # warm: templates, caches
                    for _ in range(3):
                        await timed_get(client, path)
                rows = len((await api.get(paths["api"][1])).json()["items"])
                times: dict[str, list[float]] = {"html": [], "api": []}
                for _ in range(args.runs):
                    for name, (client, path) in paths.items():
                        times[name].append(await timed_get(client, path))
                ratio = median(times["api"]) / median(times["html"])
                ratios[label] = ratio
                print(f"{label} ({rows} rows a page):\n  HTML {summary(times['html'])}   "
                      f"API {summary(times['api'])}   ratio {ratio:.2f}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    for label, ratio in ratios.items():
        verdict = "met" if ratio <= GOAL else "MISSED"
        print(f"goal API / HTML <= {GOAL} ({label}): {ratio:.2f} {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
