"""Benchmark: what our app costs per config GET in-process, against the bare-Starlette probe.

    .venv/bin/python bench/app_bench.py                 # 7 rounds of 20,000 requests a side
    .venv/bin/python bench/app_bench.py --rounds 3 --requests 5000

No sockets, no uvicorn, no wrk: each app is called as an ASGI app with a ready-made scope, and
its CPU time (``time.process_time``) is divided by the requests. What remains is what the app
itself does per request, the part that is ours to change, which a loaded machine disturbs much
less than req/s over loopback (bench/server_bench.py measures the whole path). The two sides
alternate within each round and the order flips every round; the figure is the median of the
rounds' ours/probe CPU ratios (below 1: ours costs less).

Scenarios: config 200 and config 304 (If-None-Match) through the cache hit (what the server
answers nearly always), and the same through the routes (the cache's miss path, and what every
request cost before api.PublishedFastPath). The probe is ../shared/bench/limit_app.py's config
route, rebuilt here without its database (its lifespan opens a pool).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
PROBE_BODY = (b'{"version": 3, "categories": ["necessary","preferences","statistics","marketing"], '
              b'"texts": {"en": {"title": "We use cookies"}}}')


async def _probe_config(request: Request) -> Response:
    return Response(PROBE_BODY, media_type="application/json",
                    headers={"ETag": '"v3"', "Cache-Control": "public, max-age=300"})


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000)}


async def _run(app: App, path: str, headers: list[tuple[bytes, bytes]], n: int) -> float:
    """CPU microseconds per request; every answer checked."""
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.process_time()
    for _ in range(n):
        await app(_scope(path, headers), receive, send)
    spent = time.process_time() - started
    if len(statuses) != n or statuses[0] not in (200, 304) or len(set(statuses)) != 1:
        raise SystemExit(f"{path}: unexpected answers {sorted(set(statuses))}")
    return spent / n * 1e6


async def bench(rounds: int, requests: int) -> None:
    from cmp_server.app import create_app
    from cmp_server.services import publishing, sites
    from cmp_server.settings import Settings

    probe = Starlette(routes=[Route("/config", _probe_config)])
    with tempfile.TemporaryDirectory(prefix="cmp-app-bench-") as tmp:
        url = f"sqlite://{tmp}/bench.db"

        def settings(cache: float) -> Settings:
            return Settings(environment="test", secret_key="x" * 32, database_url=url,
                            data_dir=Path(tmp), run_worker=False, config_cache_seconds=cache)

        cached, routed = create_app(settings(3600)), create_app(settings(3600))
        routed.user_middleware.clear()  # the routes only: no fast path
        async with cached.router.lifespan_context(cached):
            site = await sites.create_site("Bench", ["bench.example"], force=True)
            version = await publishing.publish(site)
        async with cached.router.lifespan_context(cached), \
                routed.router.lifespan_context(routed):
            path = f"/v1/sites/{site.key}/config"
            plain = [(b"host", b"bench"), (b"user-agent", b"wrk")]
            etag = f'"{version.content_hash}"'.encode()
            revalidate = [*plain, (b"if-none-match", etag)]
            scenarios = {
                "config 200, cached": (cached, plain),
                "config 304, cached": (cached, revalidate),
                "config 200, routes": (routed, plain),
                "config 304, routes": (routed, revalidate),
            }
            for app, headers in scenarios.values():  # warm: the cache filled, code paths run
                await _run(app, path, headers, 200)
            await _run(probe, "/config", plain, 200)
            print(f"{rounds} rounds x {requests:,} requests a side, CPU us per request")
            print("| scenario | probe us/req | ours us/req | ours/probe |\n|---|---|---|---|")
            for name, (app, headers) in scenarios.items():
                probe_us, ours_us, ratios = [], [], []
                for r in range(rounds):
                    sides = [("probe", probe, "/config", plain), ("ours", app, path, headers)]
                    measured = {}
                    for side, a, p, h in sides if r % 2 == 0 else sides[::-1]:
                        measured[side] = await _run(a, p, h, requests)
                    probe_us.append(measured["probe"])
                    ours_us.append(measured["ours"])
                    ratios.append(measured["ours"] / measured["probe"])
                print(f"| {name} | {statistics.median(probe_us):.1f} | "
                      f"{statistics.median(ours_us):.1f} | {statistics.median(ratios):.2f}x |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--requests", type=int, default=20_000)
    args = p.parse_args(argv)
    asyncio.run(bench(args.rounds, args.requests))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
