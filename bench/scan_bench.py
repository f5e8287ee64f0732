"""Scanner throughput against its ceiling, on a generated local site.

    .venv/bin/python bench/scan_bench.py               # 200 pages, concurrency 1, 2, 4
    .venv/bin/python bench/scan_bench.py --pages 30    # a quick run

For each concurrency: the full scan (three passes: none, accept, reject) against a bare
Playwright loop that opens the same pages, three times, with the same waits and nothing else
(the ceiling). Prints pages per minute, the ratio, and peak RSS of this process and its
Chromium children (sampled every 0.25 s) at the start, middle and end of each run, so a
leak shows as a rising column. Everything is served from 127.0.0.1; hosts are mapped there
with --host-resolver-rules.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.async_api import BrowserContext, async_playwright

from scanner import ScanOptions, scan_site
from scanner._page import settle
from scanner.browser import new_visitor_context, visitor_browser

RESOLVER = "--host-resolver-rules=MAP * 127.0.0.1"
TAG = """(function () {
  var root = location.hostname.split(".").slice(-2).join(".");
  document.cookie = "_ga=GA1.1." + Date.now() + "; domain=." + root + "; path=/; max-age=63072000";
  localStorage.setItem("_gcl_ls", "1");
  navigator.sendBeacon("http://region1.google-analytics.com:" + PORT + "/g/collect?v=2&tid=G-1");
  new Image().src = "http://www.facebook.com:" + PORT + "/tr/?id=1&ev=PageView";
})();"""


def make_site(pages: int) -> Callable[[str, str], tuple[int, str, bytes]]:
    def page(n: int) -> bytes:
        links = "".join(f"<a href='/p/{(n * 7 + k) % pages}'>page {k}</a> " for k in range(1, 6))
        body = "<p>" + "Lorem ipsum dolor sit amet. " * 40 + "</p>"
        return (
            f"<!doctype html><html><head><title>Page {n}</title>"
            f"<script src='http://www.googletagmanager.com:PORT/gtag/js?id=G-1'></script>"
            f"</head><body><h1>Page {n}</h1>{body}{links}"
            f"<img src='/img/{n}.gif' width=1 height=1></body></html>"
        ).encode()

    def route(host: str, path: str) -> tuple[int, str, bytes]:
        if host == "www.bench.test" and (path == "/" or path.startswith("/p/")):
            n = int(path.rsplit("/", 1)[-1] or 0) if path != "/" else 0
            return 200, "text/html", page(n)
        if path.startswith("/gtag/js"):
            return 200, "application/javascript", TAG.encode()
        if path.endswith(".gif") or path.startswith("/tr/"):
            return 200, "image/gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
        return 204, "text/plain", b""

    return route


def serve(pages: int) -> tuple[ThreadingHTTPServer, int]:
    route = make_site(pages)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            host = (self.headers.get("Host") or "").split(":")[0]
            status, kind, body = route(host, self.path.split("?")[0])
            body = body.replace(b"PORT", str(port).encode())
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: object, client_address: object) -> None:
            pass

    server = Server(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


def tree_rss_mb() -> float:
    """RSS of this process and all its descendants (Chromium), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, stack = 0, [os.getpid()]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            pass
    return total / 2**20


async def measured(run: Callable[[], Awaitable[int]]) -> tuple[float, int, list[float]]:
    samples: list[float] = []
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            samples.append(tree_rss_mb())
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample())
    start = time.perf_counter()
    pages = await run()
    elapsed = time.perf_counter() - start
    done.set()
    await sampler
    return elapsed, pages, samples


def options(url: str, concurrency: int, max_pages: int, settle_s: float) -> ScanOptions:
    return ScanOptions(
        start_url=url, max_pages=max_pages, concurrency=concurrency, settle=settle_s,
        idle_timeout=5, consent_timeout=2, browser_args=(RESOLVER,), use_sitemap=False,
    )


async def ceiling(opts: ScanOptions, urls: list[str]) -> int:
    """Open the same pages with the same waits, in a fresh context per pass, nothing else."""
    async with async_playwright() as p, visitor_browser(p, args=opts.browser_args) as browser:
        for _ in range(3):
            context = await new_visitor_context(browser)
            queue = list(reversed(urls))
            await asyncio.gather(
                *(_open_pages(context, queue, opts) for _ in range(opts.concurrency))
            )
            await context.close()
    return 3 * len(urls)


async def _open_pages(context: BrowserContext, queue: list[str], opts: ScanOptions) -> None:
    while queue:
        url = queue.pop()  # before any await: the other workers share the queue
        page = await context.new_page()
        await page.goto(url, wait_until="domcontentloaded")
        await settle(page, opts)
        await page.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--concurrency", default="1,2,4")
    parser.add_argument("--settle", type=float, default=0.5, help="seconds, as --settle")
    args = parser.parse_args()
    server, port = serve(args.pages)
    url = f"http://www.bench.test:{port}/"
    rows = []
    try:
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            opts = options(url, concurrency, args.pages, args.settle)
            report = None

            async def run_scan(opts: ScanOptions = opts) -> int:
                nonlocal report
                report = await scan_site(opts)
                return len(report.pages)

            s_time, s_pages, s_rss = await measured(run_scan)
            assert report is not None
            urls = [p.url for p in report.pages if p.pass_ == "none"]
            c_time, c_pages, c_rss = await measured(
                lambda opts=opts, urls=urls: ceiling(opts, urls)  # type: ignore[misc]
            )
            rows.append((concurrency, s_pages, s_pages / s_time * 60, c_pages / c_time * 60,
                         s_rss, c_rss, len(report.items), len(report.violations)))
            print(f"concurrency {concurrency}: scan {s_pages} pages in {s_time:.1f} s, "
                  f"ceiling {c_pages} in {c_time:.1f} s", flush=True)
            _table(rows[-1:])
    finally:
        server.shutdown()
    print()
    _table(rows)


def _rss(samples: list[float]) -> str:
    third = max(len(samples) // 3, 1)
    parts = [samples[:third], samples[third : 2 * third], samples[2 * third :]]
    return "/".join(f"{max(part or samples):.0f}" for part in parts)


def _table(rows: list[tuple[int, int, float, float, list[float], list[float], int, int]]) -> None:
    print(f"{'conc':>4} {'pages':>5} {'scan p/min':>10} {'ceiling p/min':>13} {'ratio':>6} "
          f"{'scan peak RSS MB (1st/2nd/3rd third)':>36} {'ceiling peak RSS MB':>20} "
          f"{'items':>5} {'viol':>4}", flush=True)
    for conc, pages, scan_rate, ceil_rate, s_rss, c_rss, items, viol in rows:
        print(f"{conc:>4} {pages:>5} {scan_rate:>10.1f} {ceil_rate:>13.1f} "
              f"{scan_rate / ceil_rate:>6.2f} {_rss(s_rss):>36} {_rss(c_rss):>20} "
              f"{items:>5} {viol:>4}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
