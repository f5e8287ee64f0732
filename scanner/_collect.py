"""Collect: run one pass (none, accept or reject) over the site in a fresh browser.

The first pass discovers the pages (start URL and the extra pages asked for, robots.txt
``Sitemap:`` lines, sitemap.xml and sitemap indexes, then same-site links breadth-first up to
the page budget); later passes visit
the same pages, so the passes compare like with like. Accept and reject passes answer the
banner on the first page, alone, before the other pages open: consent then holds for the
rest of the context, as for a visitor who clicks once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from ._consent import BannerDriver, receipts_script
from ._limits import PassBudget
from ._models import PassName, ScanOptions, ScanProgress
from ._page import SINK_BINDING, PageRecorder, decode_hook, hooks_script, snapshot_cookies, visit
from ._records import CookieRecord, PageVisit, PassCapture, StorageRecord
from ._site import (
    host_of,
    in_site,
    normalize_url,
    parse_robots_sitemaps,
    parse_sitemap,
    registrable_domain,
)
from .browser import new_visitor_context, webrtc_script
from .errors import BrowserError

__all__ = ["run_pass"]

_MAX_SITEMAPS = 20


async def run_pass(
    browser: Browser,
    name: PassName,
    options: ScanOptions,
    sites: set[str],
    pages: list[str] | None,
    progress: Callable[[ScanProgress], None] | None,
    number: tuple[int, int] = (1, 1),
) -> PassCapture:
    """Run one pass in a fresh context of ``browser``; ``number``: which pass of how many,
    for the progress events.

    ``pages=None`` means: discover them (and add redirect targets to ``sites``).
    """
    try:
        context = await new_visitor_context(
            browser, ignore_https_errors=options.ignore_https_errors
        )
    except PlaywrightError as exc:
        raise BrowserError(f"cannot open a browser context: {exc}") from exc
    try:
        return await _Pass(name, options, sites, progress, context, number).run(pages)
    finally:
        try:
            await context.close()
        except PlaywrightError:
            pass


class _Pass:
    def __init__(
        self,
        name: PassName,
        options: ScanOptions,
        sites: set[str],
        progress: Callable[[ScanProgress], None] | None,
        context: BrowserContext,
        number: tuple[int, int] = (1, 1),
    ) -> None:
        self.name = name
        self.number = number
        self.discovering = False
        self.options = options
        self.sites = sites
        self.progress = progress
        self.context = context
        self.recorders: dict[Page, PageRecorder] = {}
        self.banner = (
            BannerDriver("accept" if name == "accept" else "reject") if name != "none" else None
        )
        self.visits: list[PageVisit] = []
        self.recorded: list[PageRecorder] = []
        self.storage: list[StorageRecord] = []
        self.cookies: dict[tuple[str, str, str], CookieRecord] = {}
        self.consent = "not asked" if self.banner is None else "not found"
        self.total = options.max_pages
        self.budget = PassBudget(options.limits)

    async def run(self, pages: list[str] | None) -> PassCapture:
        await self.context.expose_binding(SINK_BINDING, self._on_hook)
        await self.context.add_init_script(
            script=hooks_script(self.options.limits.storage_keys_per_origin))
        # Every pass: a page may record a choice without us (GPC, an integrator's own call).
        await self.context.add_init_script(script=receipts_script())
        if self.options.public_only:
            # WebRTC's UDP would not go through the public-only proxy: off, and each try noted.
            await self.context.add_init_script(script=webrtc_script())
        if self.banner is not None:
            await self.banner.install(self.context)
        if pages is None:
            self.discovering = True
            if self.progress is not None:
                self.progress(ScanProgress(
                    phase="discover", pass_=self.name, pages_total=self.total,
                    pass_number=self.number[0], passes=self.number[1], discovering=True,
                ))
            start = normalize_url(self.options.start_url) or self.options.start_url
            spare = await self._sitemap_urls(start) if self.options.use_sitemap else []
            # Discovery fetches must not count as the visitor's first request.
            await self.context.clear_cookies()
            extra = [u for u in map(normalize_url, self.options.extra_urls) if u]
            await self._crawl([start, *extra], spare, discover=True)
        else:
            self.total = len(pages)
            await self._crawl(pages, [], discover=False)
        cookies, storage = self.budget.cap_items(
            tuple(self.cookies.values()),
            tuple([*(s for r in self.recorded for s in r.storage), *self.storage]),
        )
        return PassCapture(
            name=self.name,
            pages=tuple(self.visits),
            cookies=cookies,
            writes=tuple(w for r in self.recorded for w in r.writes),
            storage=storage,
            requests=tuple(q for r in self.recorded for q in r.requests),
            consent=self.consent,
            held=tuple(h for r in self.recorded for h in r.held),
            limits=tuple(self.budget.hits(self.name)),
            webrtc=tuple(dict.fromkeys(x for r in self.recorded for x in r.webrtc)),
        )

    def _on_hook(self, source: dict[str, Any], payload: Any) -> None:
        recorder = self.recorders.get(source.get("page"))  # type: ignore[arg-type]
        data = decode_hook(payload)
        if recorder is not None and data is not None:
            recorder.on_hook(data)

    def _same_site(self, url: str) -> bool:
        host = host_of(url)
        return any(in_site(host, site) for site in self.sites)

    async def _fetch(self, page: Page, url: str) -> bytes | None:
        # Through the browser, not an HTTP client of ours: --host-resolver-rules, proxies
        # and certificates given for the scan then apply to discovery too.
        # The body is read to its end also for an error status: closing the page while its
        # document still loads can hang Chromium's page close (seen with 156 on a 404).
        try:
            timeout = self.options.timeout * 1000
            response = await page.goto(url, wait_until="commit", timeout=timeout)
            if response is None:
                return None
            body = await asyncio.wait_for(response.body(), self.options.timeout)
            return body if response.status < 400 else None
        except (PlaywrightError, TimeoutError):
            return None

    async def _sitemap_urls(self, start: str) -> list[str]:
        root = start.split("/", 3)
        origin = "/".join(root[:3])
        page = await self.context.new_page()
        found: list[str] = []
        try:
            robots = await self._fetch(page, origin + "/robots.txt")
            queue = deque(parse_robots_sitemaps(robots) if robots else [])
            queue.append(origin + "/sitemap.xml")
            seen: set[str] = set()
            while queue and len(seen) < _MAX_SITEMAPS and len(found) < 50_000:
                sitemap = queue.popleft()
                if sitemap in seen or not self._same_site(sitemap):
                    continue
                seen.add(sitemap)
                body = await self._fetch(page, sitemap)
                if body is None:
                    continue
                urls, nested = parse_sitemap(body)
                queue.extend(nested)
                found.extend(u for u in (normalize_url(x) for x in urls) if u)
        finally:
            await page.close()
        return [u for u in dict.fromkeys(found) if self._same_site(u)]

    async def _crawl(self, seeds: list[str], spare: list[str], *, discover: bool) -> None:
        budget = self.options.max_pages if discover else len(seeds)
        # Sitemaps can list thousands of pages: give them at most half the budget up front,
        # keep the rest for when the links run out.
        # The seeds (the start page and the extra pages asked for) come first, all of them.
        head = max(0, budget // 2 - len(seeds))
        ordered = list(dict.fromkeys([*seeds, *(spare[:head] if discover else ())]))
        queue: deque[str] = deque(ordered)
        spare_left = deque(spare[head:])
        scheduled = set(queue)
        first = queue.popleft()
        scheduled_count = len(scheduled)

        def enqueue(links: tuple[str, ...]) -> None:
            nonlocal scheduled_count
            for link in links:
                if scheduled_count >= budget:
                    return
                if link not in scheduled and self._same_site(link):
                    scheduled.add(link)
                    queue.append(link)
                    scheduled_count += 1

        # The first page alone: it answers the banner and fixes the site after redirects.
        result = await self._visit(first, answer=self.banner is not None)
        if discover and result.final_url:
            self.sites.add(registrable_domain(host_of(result.final_url)))
        if discover:
            enqueue(result.links)
        active = 0

        async def worker() -> None:
            nonlocal active
            while True:
                if not queue and discover and active == 0:
                    while spare_left and not queue:
                        enqueue((spare_left.popleft(),))
                if queue:
                    url = queue.popleft()
                    active += 1
                    try:
                        visited = await self._visit(url, answer=False)
                    finally:
                        active -= 1
                    if discover:
                        enqueue(visited.links)
                elif active == 0:
                    return
                else:
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(worker() for _ in range(self.options.concurrency)))
        if discover:
            self.total = len(self.visits)

    async def _visit(self, url: str, *, answer: bool) -> PageVisit:
        budget = self.options.timeout * 2 + self.options.idle_timeout + self.options.settle + 30
        budget += self.options.consent_timeout if answer else 0
        try:
            result, recorder, stored, answered = await asyncio.wait_for(
                visit(self.context, url, self.options, self.recorders, self.banner, answer,
                      self.budget),
                timeout=budget,
            )
        except (TimeoutError, PlaywrightError) as exc:
            # A timeout, or the tab could not even open (a crashed renderer): report the page.
            error = "page visit timed out" if isinstance(exc, TimeoutError) else str(exc)[:300]
            result, recorder, stored, answered = (
                PageVisit(url, None, error, None, ()),
                PageRecorder(url, self.budget),
                [],
                None,
            )
        if answered is not None:
            self.consent = answered
        self.visits.append(result)
        self.recorded.append(recorder)
        self.storage.extend(stored)
        for cookie in await snapshot_cookies(self.context, url, self.budget):
            self.cookies.setdefault((cookie.name, cookie.domain, cookie.path), cookie)
        if self.progress is not None:
            self.progress(
                ScanProgress(
                    phase="visit",
                    pass_=self.name,
                    url=url,
                    pages_done=len(self.visits),
                    pages_total=max(self.total, len(self.visits)),
                    failed=result.error is not None,
                    pass_number=self.number[0],
                    passes=self.number[1],
                    discovering=self.discovering,
                )
            )
        return result

