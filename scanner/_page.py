"""Visit one page in a pass's browser context and record everything it stores or sends.

The init script (``_hooks.js``) reports script writes through a context binding; each page
has a ``PageRecorder`` that also listens to its requests and responses (``Set-Cookie`` is
read from the raw headers, which hold what the provisional ``response.headers`` leave out).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import re
import time
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Frame, Page, Request, Response, WebSocket
from playwright.async_api import Error as PlaywrightError

from ._consent import BannerDriver
from ._held import read_held
from ._limits import PassBudget
from ._models import ScanLimits, ScanOptions
from ._records import (
    NOT_KEPT,
    CookieRecord,
    CookieWrite,
    HeldRecord,
    PageVisit,
    RequestRecord,
    StorageRecord,
    initiator_from_stack,
    parse_cookie_line,
)
from ._site import host_of, is_public_suffix, normalize_url

__all__ = ["SINK_BINDING", "PageRecorder", "hooks_script", "settle", "snapshot_cookies", "visit"]

SINK_BINDING = "__cmpScanSink"
# A visitor who follows "log out" changes nothing, but a crawler could end a session it was
# given (a staging login in --browser-arg cookies) halfway through a pass.
_LOGOUT = re.compile(r"log-?out|sign-?out|log-?off", re.IGNORECASE)
_MAX_URL = 1000


@functools.cache
def hooks_script(storage_limit: int = ScanLimits().storage_keys_per_origin) -> str:
    """The init script, reporting at most ``storage_limit`` distinct storage names a frame."""
    text = files("scanner").joinpath("_hooks.js").read_text(encoding="utf-8")
    return text.replace("__STORAGE_LIMIT__", str(int(storage_limit)))


# At most ``n`` names of each kind, each cut to ``chars``, cross to us; ``total`` says how
# many the page has (a page may hold a hundred thousand keys of a megabyte each).
_READ_STORAGE = """async ([n, chars]) => {
  const out = { origin: String(self.origin), ls: [], ss: [], idb: [], total: 0 };
  const cut = (name) => String(name).slice(0, chars);
  const keys = (s) => {
    out.total += s.length;
    return Array.from({ length: Math.min(s.length, n) }, (_, i) => cut(s.key(i)));
  };
  try { out.ls = keys(localStorage); } catch (e) {}
  try { out.ss = keys(sessionStorage); } catch (e) {}
  try {
    const names = (await indexedDB.databases()).map((d) => d.name);
    out.total += names.length;
    out.idb = names.slice(0, n).map(cut);
  } catch (e) {}
  return out;
}"""

# Scroll in steps so lazy images, iframes and "on scroll" tags load, as for a reader.
_SCROLL = """async () => {
  const step = Math.max(200, innerHeight * 0.9);
  for (let i = 0; i < 25; i++) {
    const bottom = (document.scrollingElement || document.documentElement).scrollHeight;
    if (scrollY + innerHeight >= bottom - 2) break;
    scrollBy(0, step);
    await new Promise((ok) => setTimeout(ok, 40));
  }
}"""


def _secure_origin(url: str) -> bool:
    # Chromium treats http://localhost as secure too (a "potentially trustworthy" origin).
    return url.startswith(("https:", "wss:")) or host_of(url) in ("localhost", "127.0.0.1")


def _kept(pair: str, before: object, after: object) -> bool:
    """Did the jar keep a ``document.cookie`` write, judged by the jar read around it?

    A refused write leaves the jar as it was. Unchanged but holding the pair is a rewrite of
    the same value (kept). An unreadable jar (a sandboxed frame) tells nothing: kept, and the
    snapshot after the visit decides.
    """
    if not isinstance(before, str) or not isinstance(after, str):
        return True
    return before != after or pair in (part.strip() for part in after.split(";"))


def _origin_host(origin: str, frame_url: str) -> str:
    host = host_of(origin) if origin.startswith("http") else ""
    return host or host_of(frame_url)


@dataclass
class PageRecorder:
    """Everything one page (and its frames) wrote or requested while we watched."""

    url: str
    budget: PassBudget = field(default_factory=PassBudget.default)
    writes: list[CookieWrite] = field(default_factory=list)
    storage: list[StorageRecord] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)
    held: list[HeldRecord] = field(default_factory=list)  # our banner's window.cmp.blocked()
    webrtc: list[str] = field(default_factory=list)  # WebRTC connections a page tried
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def on_request(self, request: Request) -> None:
        self._record(request.url, request.resource_type)

    def on_websocket(self, socket: WebSocket) -> None:
        # Session-replay tools (Hotjar) stream over WebSockets, which are not "requests".
        self._record(socket.url, "websocket")

    def _record(self, url: str, resource_type: str) -> None:
        if not url.startswith(("http:", "https:", "ws:", "wss:")):
            return
        if not self.budget.take_request():
            return
        parts = urlsplit(url)
        self.requests.append(
            RequestRecord(
                url=url[:_MAX_URL],
                host=(parts.hostname or "").lower(),
                path=parts.path or "/",
                resource_type=resource_type,
                page_url=self.url,
            )
        )

    def on_response(self, response: Response) -> None:
        task = asyncio.ensure_future(self._read_set_cookie(response))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_set_cookie(self, response: Response) -> None:
        try:
            headers = await response.headers_array()
        except PlaywrightError:
            return
        host = host_of(response.url)
        secure = _secure_origin(response.url)
        for header in headers:
            if header["name"].lower() != "set-cookie":
                continue
            for line in header["value"].split("\n"):
                parsed = parse_cookie_line(line, request_host=host, secure_origin=secure)
                if parsed is not None:
                    # Whether the jar kept it is seen in the snapshot after the visit.
                    write = parsed.write("http", response.url[:_MAX_URL], self.url)
                    self.writes.append(self._cut(write))

    def on_hook(self, payload: dict[str, Any]) -> None:
        frame_url = str(payload.get("frame", ""))
        host = _origin_host(str(payload.get("origin", "")), frame_url)
        script = payload.get("script")
        initiator = initiator_from_stack(
            str(payload.get("stack", "")), script[:_MAX_URL] if isinstance(script, str) else None,
            frame_url[:_MAX_URL] or None,
        )
        kind = payload.get("t")
        if kind == "cookie":
            parsed = parse_cookie_line(
                str(payload.get("value", "")), request_host=host,
                secure_origin=_secure_origin(frame_url),
            )
            if parsed is None:
                return
            kept = _kept(parsed.pair, payload.get("before"), payload.get("jar"))
            refused = None if kept or parsed.deleted else NOT_KEPT
            self.writes.append(self._cut(parsed.write("script", initiator, self.url, refused)))
        elif kind == "cookieStore":
            domain = payload.get("domain")
            target = str(domain).lstrip(".").lower() if domain else host
            refused = None
            # cookieStore.set rejects these as document.cookie does; the hook sees the call.
            if target != host and not host.endswith("." + target):
                refused = f"domain .{target} does not cover {host}"
            elif target != host and is_public_suffix(target):
                refused = f"domain .{target} is a public suffix"
            expires = payload.get("expires")
            days = None
            if isinstance(expires, int | float):
                days = round(max(expires / 1000 - time.time(), 0) / 86400, 3)
            self.writes.append(
                CookieWrite(
                    name=self.budget.cut(str(payload.get("name", ""))),
                    host=target,
                    domain_cookie=bool(domain),
                    path=str(payload["path"]) if payload.get("path") else None,
                    via="script",
                    initiator=initiator,
                    page_url=self.url,
                    expires_days=days,
                    deleted=days == 0,
                    refused=refused,
                    http_only=False,
                    secure=True,
                    same_site="Strict",
                )
            )
        elif kind == "storage" and payload.get("kind") in (
            "localStorage",
            "sessionStorage",
            "indexedDB",
        ):
            name = self.budget.cut(str(payload.get("name", "")))
            if not self.budget.take_storage(payload["kind"], name, host):
                return
            self.storage.append(
                StorageRecord(
                    kind=payload["kind"],
                    name=name,
                    host=host,
                    page_url=self.url,
                    initiator=initiator,
                )
            )
        elif kind == "webrtc":
            # Only the public-only scans' init script sends these (``_webrtc.js``).
            urls = payload.get("urls")
            targets = [str(u)[:_MAX_URL] for u in urls[:20]] if isinstance(urls, list) else []
            for target in targets or [host or frame_url[:_MAX_URL]]:
                if len(self.webrtc) < 100:
                    self.webrtc.append(f"webrtc {target}")

    def _cut(self, write: CookieWrite) -> CookieWrite:
        name = self.budget.cut(write.name)
        return write if name == write.name else dataclasses.replace(write, name=name)

    async def drain(self) -> None:
        """Wait for header reads still in flight."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


async def settle(page: Page, options: ScanOptions) -> None:
    """The waits every visit makes (the benchmark's ceiling loop makes the same ones)."""
    for state, timeout in (("load", options.timeout), ("networkidle", options.idle_timeout)):
        try:
            await page.wait_for_load_state(state, timeout=timeout * 1000)  # type: ignore[arg-type]
        except PlaywrightError:
            pass  # a page that never goes idle (polling, websockets) is still scanned
    try:
        await page.evaluate(_SCROLL)
    except PlaywrightError:
        pass
    await asyncio.sleep(options.settle)


async def _read_frame_storage(
    frame: Frame, page_url: str, budget: PassBudget
) -> list[StorageRecord]:
    if not frame.url.startswith(("http:", "https:", "about:")):
        return []
    limits = budget.limits
    try:
        data = await asyncio.wait_for(
            frame.evaluate(_READ_STORAGE, [limits.storage_keys_per_origin, limits.value_chars]),
            timeout=5,
        )
    except (PlaywrightError, TimeoutError):
        return []
    if not isinstance(data, dict):
        return []
    host = _origin_host(str(data.get("origin", "")), frame.url)
    if not host:
        return []
    found: list[StorageRecord] = []
    for kind, key in (("localStorage", "ls"), ("sessionStorage", "ss"), ("indexedDB", "idb")):
        names = data.get(key)
        for name in names[: limits.storage_keys_per_origin] if isinstance(names, list) else []:
            text = budget.cut(str(name))
            if budget.take_storage(kind, text, host):
                found.append(StorageRecord(kind, text, host, page_url, None))  # type: ignore[arg-type]
    total = data.get("total")
    if isinstance(total, int):
        budget.listed(host, total)
    return found


async def _links(page: Page, base: str) -> tuple[str, ...]:
    try:
        hrefs = await page.evaluate(
            "() => Array.from(document.querySelectorAll('a[href], area[href]'), a => a.href)"
            ".slice(0, 3000)"
        )
    except PlaywrightError:
        return ()
    links = (normalize_url(str(href), base) for href in hrefs)
    return tuple(dict.fromkeys(link for link in links if link and not _LOGOUT.search(link)))


async def snapshot_cookies(
    context: BrowserContext, page_url: str, budget: PassBudget | None = None
) -> list[CookieRecord]:
    try:
        jar = await context.cookies()
    except PlaywrightError:
        return []
    cut = budget.cut if budget is not None else str
    return [
        CookieRecord(
            name=cut(c.get("name", "")),
            domain=c.get("domain", ""),
            path=c.get("path", "/"),
            expires=float(c.get("expires", -1)),
            http_only=bool(c.get("httpOnly")),
            secure=bool(c.get("secure")),
            same_site=c.get("sameSite"),
            page_url=page_url,
        )
        for c in jar
    ]


async def visit(
    context: BrowserContext,
    url: str,
    options: ScanOptions,
    recorders: dict[Page, PageRecorder],
    banner: BannerDriver | None,
    answer_banner: bool,
    budget: PassBudget | None = None,
) -> tuple[PageVisit, PageRecorder, list[StorageRecord], str | None]:
    """Open ``url`` in a new tab, wait like a reader, and collect. Never raises for the page."""
    recorder = PageRecorder(url, budget or PassBudget(options.limits))
    page = await context.new_page()
    recorders[page] = recorder
    if answer_banner and banner is not None:
        await banner.arm(page)
    page.on("request", recorder.on_request)
    page.on("response", recorder.on_response)
    page.on("websocket", recorder.on_websocket)
    status: int | None = None
    error: str | None = None
    final_url: str | None = None
    links: tuple[str, ...] = ()
    stored: list[StorageRecord] = []
    answered: str | None = None
    try:
        response = await page.goto(
            url, wait_until="domcontentloaded", timeout=options.timeout * 1000
        )
        status = response.status if response is not None else None
        if answer_banner and banner is not None:
            try:
                await page.wait_for_load_state("load", timeout=options.timeout * 1000)
            except PlaywrightError:
                pass
            answered = await banner.answer(page, options.consent_timeout)
        await settle(page, options)
        recorder.held.extend(await read_held(page, url))
        final_url = page.url
        links = await _links(page, final_url)
        for frame_storage in await asyncio.gather(
            *(_read_frame_storage(frame, url, recorder.budget) for frame in page.frames)
        ):
            stored.extend(frame_storage)
    except PlaywrightError as exc:
        error = str(exc).splitlines()[0][:300]
    finally:
        await recorder.drain()
        recorders.pop(page, None)
        if banner is not None:
            banner.forget(page)
        try:
            await page.close()
        except PlaywrightError:
            pass
    return PageVisit(url, status, error, final_url, links), recorder, stored, answered


def decode_hook(payload: Any) -> dict[str, Any] | None:
    """The init script sends JSON text; anything else is a page imitating the binding."""
    if not isinstance(payload, str):
        return None
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
