"""Automatic blocking (embed/src/autoblock*.js): unmodified vendor snippets, held by the rules of
the published config until their purposes are granted (docs/contracts.md, ``blocking``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from .banner import banner, settled
from .conftest import Visit, visiting
from .factories import Tag, blocking_site, page
from .servers import CmpServer, HostServer, VendorServer, running, tls_context
from .vendors import COOKIES, HOSTS, MARKETING, ROUTES, RULES, STATISTICS, STORAGE, snippets


@pytest.fixture
async def visit(browser: Browser) -> AsyncIterator[Visit]:
    """The vendors speak https with a throwaway certificate."""
    async with visiting(browser, ignore_https_errors=True) as v:
        yield v


@pytest.fixture
def vendors(tmp_path: Path) -> Iterator[VendorServer]:
    server = VendorServer(ROUTES, tls_context(tmp_path))
    with running(server):
        yield server


@pytest.fixture
async def auto_tag(cmp: CmpServer) -> Tag:
    site = await cmp.call(blocking_site(RULES))
    return Tag(cmp.origin, site.key)


def vendor_page(tag: Tag, vendors: VendorServer) -> str:
    head, body = snippets(vendors.port)
    return page(tag, body=body, head=head)


STATE = """() => ({
    ran: window.ran || [],
    cookies: document.cookie.split('; ').map((c) => c.split('=')[0]).filter(Boolean),
    storage: Object.keys(localStorage).concat(Object.keys(sessionStorage)),
})"""


async def state(p: Page) -> dict[str, Any]:
    result: dict[str, Any] = await p.evaluate(STATE)
    return result


def hosts_of(*purposes: str) -> set[str]:
    return set().union(*(HOSTS[p] for p in purposes))


def keys_of(*purposes: str) -> set[str]:
    return set().union(*(COOKIES.get(p, set()) | STORAGE.get(p, set()) for p in purposes))


async def test_nothing_fires_before_consent_nor_after_reject(
    visit: Visit, host: HostServer, auto_tag: Tag, vendors: VendorServer, path: str
) -> None:
    url = host.add(path, vendor_page(auto_tag, vendors))
    await visit.page.goto(url)
    await banner(visit.page).wait_for()
    s = await state(visit.page)
    # The site's own script and the ones no rule holds ran, during parse; no vendor's did.
    assert s["ran"] == ["site-own", "recaptcha", "widget"]
    assert not set(s["cookies"]) & keys_of("statistics", "marketing")
    assert not set(s["storage"]) & keys_of("statistics", "marketing")
    # The page's fetch and XHR to a held host failed as network errors.
    await visit.page.wait_for_function("window.dropped.length === 2")
    assert sorted(await visit.page.evaluate("window.dropped")) == ["fetch TypeError",
                                                                     "xhr error 0"]
    blocked = await visit.page.evaluate("window.cmp.blocked()")
    assert {(b["type"], b["state"]) for b in blocked} == {
        ("script", "held"), ("iframe", "held"), ("img", "held"), ("beacon", "held"),
        ("fetch", "dropped"), ("xhr", "dropped")}
    # Nothing reached a vendor but what the browser's preload scanner fetches on its own,
    # before any script runs: the two <script src> written in the HTML (never run, above).
    preloaded = {"/gtag/js?id=G-TEST1", "/123456.js"}
    assert not [h for h in vendors.hits if h.host in hosts_of("statistics", "marketing")
                and h.path not in preloaded]
    # A placeholder stands in for the video.
    await visit.page.get_by_role("button", name="Allow Marketing").wait_for()

    await banner(visit.page).get_by_role("button", name="Reject all").click()
    await banner(visit.page).wait_for(state="detached")
    blocked_after = await visit.page.evaluate("window.cmp.blocked()")
    assert blocked_after == blocked
    await visit.page.reload()
    await settled(visit.page)
    await visit.page.wait_for_function("window.dropped.length === 2")
    s = await state(visit.page)
    assert s["ran"] == ["site-own", "recaptcha", "widget"]
    assert not set(s["cookies"]) & keys_of("statistics", "marketing")
    assert not set(s["storage"]) & keys_of("statistics", "marketing")
    assert not [h for h in vendors.hits if h.host in hosts_of("statistics", "marketing")
                and h.path not in preloaded]


async def test_accept_runs_everything_once_in_order_without_reload(
    visit: Visit, host: HostServer, auto_tag: Tag, vendors: VendorServer, path: str
) -> None:
    url = host.add(path, vendor_page(auto_tag, vendors))
    await visit.page.goto(url)
    await visit.page.wait_for_load_state("load")
    await visit.page.evaluate("window.marker = 'same document'")
    await banner(visit.page).get_by_role("button", name="Accept all").click()
    everything = {"site-own", "recaptcha", "widget", *STATISTICS, *MARKETING}
    await visit.page.wait_for_function(f"(window.ran || []).length === {len(everything)}")
    await visit.page.frame_locator("iframe[title='YouTube video player']").locator(
        "#video").wait_for()
    # Follow-ups the released scripts send go out now (they are allowed).
    want = {("GET", "www.facebook.com", "/tr?id=1234567890&ev=PageView"),
            ("GET", "www.facebook.com", "/tr?id=1234567890&ev=Lead"),
            ("GET", "px.ads.linkedin.com", "/collect?pid=123&fmt=gif"),
            ("POST", "region1.google-analytics.com", "/g/collect?v=2&en=beacon"),
            ("POST", "region1.google-analytics.com", "/g/collect?v=2&en=gtm")}
    await visit.page.wait_for_function(
        "window.cmp.blocked().every((b) => b.state !== 'held')")
    for _ in range(100):
        if want <= {(h.method, h.host, h.path) for h in vendors.hits}:
            break
        await visit.page.wait_for_timeout(50)
    s = await state(visit.page)
    # Each ran exactly once; the held scripts in the order they were held: document order
    # for the parser's (gtag, HubSpot), insertion order for the loaders' (the inline loaders
    # ran during parse, in document order).
    assert sorted(s["ran"]) == sorted(everything)
    held = [r for r in s["ran"] if r not in ("site-own", "recaptcha", "widget", "hs-analytics")]
    assert held == ["gtm", "gtag", "fbevents", "hotjar", "mouseflow", "hubspot", "linkedin"]
    assert keys_of("statistics", "marketing") <= set(s["cookies"]) | set(s["storage"])
    assert await visit.page.evaluate("window.marker") == "same document"
    # The inline stubs kept their bodies: their queues reached the released scripts.
    assert await visit.page.evaluate("window.fbqQueued") == 2
    assert await visit.page.evaluate("window.gtagSaw") >= 3
    # The HubSpot element kept its attributes and ran as itself (currentScript).
    hs = await visit.page.evaluate("""() => {
        const s = document.getElementById('hs-script-loader');
        return [s.type, s.hasAttribute('async'), s.hasAttribute('defer'),
                document.querySelectorAll('script[src*="123456.js"]').length];
    }""")
    assert hs == ["text/javascript", True, True, 2]  # the loader and the analytics script
    # No handler fired twice: the site's once each; the released GTM's never (the events
    # had passed when it registered them).
    assert await visit.page.evaluate("window.siteHandlers") == {"dcl": 1, "load": 1}
    assert await visit.page.evaluate("window.lateHandlers || 0") == 0
    assert {b["state"] for b in await visit.page.evaluate("window.cmp.blocked()")} == {
        "released", "dropped"}
