"""Automatic blocking (embed/src/autoblock*.js): unmodified vendor snippets, held by the rules of
the published config until their purposes are granted (docs/contracts.md, ``blocking``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from .banner import banner, poll, settled
from .conftest import Visit, visiting
from .factories import Tag, blocking_site, page, published_site
from .servers import CmpServer, HostServer, VendorServer, running, tls_context
from .vendors import (
    COOKIES,
    HEAD,
    HOSTS,
    MARKETING,
    ROUTES,
    RULES,
    STATISTICS,
    STORAGE,
    snippets,
)


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
    assert await visit.page.evaluate("[window.states, window.parseOrder]") == [
        {"recaptcha": "loading", "widget": "loading"},
        ["site-own", "recaptcha", "widget"]]
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



async def test_a_granted_purpose_releases_only_its_own_rules(
    visit: Visit, host: HostServer, auto_tag: Tag, vendors: VendorServer, path: str
) -> None:
    url = host.add(path, vendor_page(auto_tag, vendors))
    await visit.page.goto(url)
    await visit.page.wait_for_load_state("load")
    await visit.page.evaluate("window.cmp.setConsent({statistics: true})")
    await visit.page.wait_for_function(f"(window.ran || []).length === {3 + len(STATISTICS)}")
    await visit.page.wait_for_function("""() => window.cmp.blocked().filter(
        (b) => b.purposes[0] === 'statistics' && b.state === 'held').length === 0""")
    s = await state(visit.page)
    assert sorted(s["ran"]) == sorted(["site-own", "recaptcha", "widget", *STATISTICS])
    assert keys_of("statistics") - {"chat_visitor"} <= set(s["cookies"]) | set(s["storage"])
    assert not set(s["cookies"]) & keys_of("marketing")
    states = {(b["purposes"][0], b["type"], b["state"])
              for b in await visit.page.evaluate("window.cmp.blocked()")}
    assert states == {
        ("statistics", "script", "released"), ("statistics", "beacon", "released"),
        ("statistics", "fetch", "dropped"), ("statistics", "xhr", "dropped"),
        ("marketing", "script", "held"), ("marketing", "iframe", "held"),
        ("marketing", "img", "held")}
    # The marketing hosts saw nothing but the preload of HubSpot's <script src> in the HTML.
    assert [h.path for h in vendors.hits if h.host in HOSTS["marketing"]] == ["/123456.js"]
    await visit.page.get_by_role("button", name="Allow Marketing").wait_for()


async def test_report_mode_blocks_nothing_and_reports_every_match(
    visit: Visit, host: HostServer, cmp: CmpServer, vendors: VendorServer, path: str
) -> None:
    site = await cmp.call(blocking_site(RULES, mode="report"))
    warnings: list[str] = []
    visit.page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    url = host.add(path, vendor_page(Tag(cmp.origin, site.key), vendors))
    await visit.page.goto(url)
    await visit.page.wait_for_load_state("load")
    everything = {"site-own", "recaptcha", "widget", *STATISTICS, *MARKETING}
    await visit.page.wait_for_function(f"(window.ran || []).length === {len(everything)}")
    await visit.page.frame_locator("iframe[title='YouTube video player']").locator(
        "#video").wait_for()
    await visit.page.wait_for_function("window.dropped.length === 2")
    assert sorted(await visit.page.evaluate("window.dropped")) == ["fetch sent", "xhr sent"]
    s = await state(visit.page)
    assert sorted(s["ran"]) == sorted(everything)
    assert keys_of("statistics", "marketing") - {"chat_visitor"} <= (
        set(s["cookies"]) | set(s["storage"]))
    assert await visit.page.get_by_role("button", name="Allow Marketing").count() == 0
    blocked = await visit.page.evaluate("window.cmp.blocked()")
    assert {b["state"] for b in blocked} == {"reported"}
    v = f":{vendors.port}"
    want = {
        ("script", f"https://www.googletagmanager.com{v}/gtm.js?id=GTM-TEST1"),
        ("script", f"https://www.googletagmanager.com{v}/gtag/js?id=G-TEST1"),
        ("script", f"https://connect.facebook.net{v}/en_US/fbevents.js"),
        ("script", f"https://static.hotjar.com{v}/c/hotjar-123.js?sv=6"),
        ("script", f"https://cdn.mouseflow.com{v}/projects/abc-123.js"),
        ("script", f"https://js.hs-scripts.com{v}/123456.js"),
        ("script", f"https://js.hs-analytics.net{v}/analytics/1/123456.js"),
        ("script", f"https://snap.licdn.com{v}/li.lms-analytics/insight.min.js"),
        ("iframe", f"https://www.youtube.com{v}/embed/abc123"),
        ("img", f"https://www.facebook.com{v}/tr?id=1234567890&ev=Lead"),
        ("img", f"https://www.facebook.com{v}/tr?id=1234567890&ev=PageView"),
        ("img", f"https://px.ads.linkedin.com{v}/collect?pid=123&fmt=gif"),
        ("beacon", f"https://region1.google-analytics.com{v}/g/collect?v=2&en=beacon"),
        ("beacon", f"https://region1.google-analytics.com{v}/g/collect?v=2&en=gtm"),
        ("fetch", f"https://region1.google-analytics.com{v}/g/collect?v=2&en=fetch"),
        ("xhr", f"https://region1.google-analytics.com{v}/g/collect?v=2&en=xhr"),
    }
    await visit.page.wait_for_function(f"window.cmp.blocked().length === {len(want)}")
    blocked = await visit.page.evaluate("window.cmp.blocked()")
    assert {(b["type"], b["url"]) for b in blocked} == want
    assert len(blocked) == len(want)
    reported = [w for w in warnings if w.startswith("[cmp] would block")]
    assert len(reported) == len(want)
    assert all(any(u in w for w in reported) for _, u in want)


async def test_returning_visitor_runs_them_during_load_and_withdrawal_blocks_from_next_page(
    visit: Visit, host: HostServer, auto_tag: Tag, vendors: VendorServer, path: str
) -> None:
    url = host.add(path, vendor_page(auto_tag, vendors))
    await visit.page.goto(url)
    await banner(visit.page).get_by_role("button", name="Accept all").click()
    everything = {"site-own", "recaptcha", "widget", *STATISTICS, *MARKETING}
    await visit.page.wait_for_function(f"(window.ran || []).length === {len(everything)}")

    await visit.page.goto(url)
    await visit.page.wait_for_function(f"(window.ran || []).length === {len(everything)}")
    await settled(visit.page)
    assert await banner(visit.page).count() == 0
    assert await visit.page.evaluate("window.cmp.blocked()") == []
    # They ran while the page loaded (before the load event), as without the tag.
    states = await visit.page.evaluate("window.states")
    assert {k: v for k, v in states.items() if v == "complete"} == {}

    # Withdrawing marketing reloads the page (a script of it ran); from then on it waits.
    async with visit.page.expect_navigation():
        await visit.page.evaluate("window.cmp.setConsent({marketing: false})")
    await visit.page.wait_for_load_state("load")
    await visit.page.wait_for_function(
        f"(window.ran || []).length === {3 + len(STATISTICS)}")
    assert sorted(await visit.page.evaluate("window.ran")) == sorted(
        ["site-own", "recaptcha", "widget", *STATISTICS])
    blocked = await visit.page.evaluate("window.cmp.blocked()")
    assert blocked and {(b["purposes"][0], b["state"]) for b in blocked} == {
        ("marketing", "held")}
    await visit.page.get_by_role("button", name="Allow Marketing").wait_for()



ROUTE = "document.getElementById('route').click()"  # under the banner: not by pointer


async def test_a_script_a_single_page_app_adds_later_waits_for_its_purpose(
    visit: Visit, host: HostServer, auto_tag: Tag, vendors: VendorServer, path: str
) -> None:
    url = host.add(path, vendor_page(auto_tag, vendors))
    await visit.page.goto(url)
    await visit.page.wait_for_load_state("load")
    await visit.page.evaluate(ROUTE)
    await visit.page.wait_for_function(
        "window.cmp.blocked().some((b) => b.url.indexOf('spa-chat') > 0)")
    spa = [b for b in await visit.page.evaluate("window.cmp.blocked()") if "spa-chat" in b["url"]]
    assert [(b["type"], b["purposes"], b["state"]) for b in spa] == [
        ("script", ["preferences"], "held")]
    assert not [h for h in vendors.hits if "spa-chat" in h.path]
    await visit.page.evaluate("window.cmp.setConsent({preferences: true})")
    await visit.page.wait_for_function("(window.ran || []).indexOf('spa-chat') >= 0")
    assert "chat_visitor" in (await state(visit.page))["storage"]
    # Granted now: the next one runs at once, without being held.
    await visit.page.evaluate(ROUTE)
    await visit.page.wait_for_function(
        "(window.ran || []).filter((r) => r === 'spa-chat').length === 2")
    assert len([b for b in await visit.page.evaluate("window.cmp.blocked()")
                if "spa-chat" in b["url"]]) == 1


CSP_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Strict CSP</title>
<script nonce="n0nce">
  window.violations = [];
  document.addEventListener('securitypolicyviolation', function (e) {{
    violations.push(e.violatedDirective + ' ' + e.blockedURI);
  }});
</script>
<script nonce="n0nce" src="{tag}"></script>
{gtm}
<script nonce="n0nce" async src="https://www.googletagmanager.com:{port}/gtag/js?id=G-TEST1"
        data-origin="gtag"></script>
<script nonce="n0nce">window.siteInline = document.readyState;</script>
</head><body><main><h1>Strict CSP</h1></main></body></html>
"""


async def test_nonced_scripts_under_a_strict_csp(
    visit: Visit, host: HostServer, auto_tag: Tag, vendors: VendorServer, path: str
) -> None:
    gtm = HEAD.split("<!-- End Google Tag Manager -->")[0].replace(
        "<script>", '<script nonce="n0nce">', 1).format(v=f":{vendors.port}")
    html = CSP_PAGE.format(tag=auto_tag.src, gtm=gtm, port=vendors.port)
    url = host.add(path, html, headers={
        "Content-Security-Policy": "script-src 'nonce-n0nce' 'strict-dynamic'; object-src 'none'"})
    await visit.page.goto(url)
    await banner(visit.page).wait_for()
    assert await visit.page.evaluate("window.siteInline") == "loading"
    assert await visit.page.evaluate("window.ran || []") == []
    assert {b["state"] for b in await visit.page.evaluate("window.cmp.blocked()")} == {"held"}
    await banner(visit.page).get_by_role("button", name="Accept all").click()
    assert await poll(visit.page, "(window.ran || []).length === 2")
    assert await visit.page.evaluate("window.ran") == ["gtm", "gtag"]
    gtag = await visit.page.evaluate("""() => {
        const s = document.querySelector('script[data-origin=gtag]');
        return [s.nonce, s.type, s.hasAttribute('async')];
    }""")
    assert gtag == ["n0nce", "", True]
    assert await visit.page.evaluate("window.violations") == []


async def test_a_fault_in_a_hook_falls_back_to_the_browser(
    visit: Visit, host: HostServer, auto_tag: Tag, vendors: VendorServer, path: str
) -> None:
    errors: list[str] = []
    visit.page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    url = host.add(path, page(auto_tag, body=""))
    await visit.page.goto(url)
    await visit.page.wait_for_load_state("load")
    # The page breaks what our hooks use: they throw, and the browser's own methods run.
    ran = await visit.page.evaluate("""(port) => new Promise((done) => {
        WeakSet.prototype.has = () => { throw new Error('broken by the page'); };
        const s = document.createElement('script');
        s.src = 'https://static.hotjar.com:' + port + '/c/hotjar-123.js?sv=6';
        s.onload = () => done(window.ran);
        document.head.appendChild(s);
    })""", vendors.port)
    assert ran == ["hotjar"]
    assert any(e.startswith("[cmp]") and "broken by the page" in e for e in errors)


async def test_no_hook_without_rules(
    visit: Visit, host: HostServer, cmp: CmpServer, path: str
) -> None:
    site = await cmp.call(published_site(options={"auto_blocking": "off"}))
    url = host.add(path, page(Tag(cmp.origin, site.key)))
    await visit.page.goto(url)
    await visit.page.wait_for_load_state("load")
    native = await visit.page.evaluate("""() => {
        const set = (p, k) => Object.getOwnPropertyDescriptor(p, k).set;
        return [Node.prototype.appendChild, Node.prototype.insertBefore, Element.prototype.append,
                Element.prototype.setAttribute, window.fetch, navigator.sendBeacon,
                XMLHttpRequest.prototype.open, set(HTMLScriptElement.prototype, 'src'),
                set(HTMLImageElement.prototype, 'src'), set(HTMLIFrameElement.prototype, 'src')]
            .every((f) => String(f).endsWith('{ [native code] }'));
    }""")
    assert native is True
    assert await visit.page.evaluate("window.cmp.blocked()") == []


MATCHING = [
    {"host": "Tracker.Example.", "path": "", "purposes": ["statistics"]},
    {"host": "tracker.example", "path": "/free/", "purposes": []},
    {"host": "ads.tracker.example", "path": "/", "purposes": ["marketing"]},
    {"host": "ads.tracker.example", "path": "/px/", "purposes": ["statistics", "marketing"]},
    {"host": "site.test", "path": "/own-tracker/", "purposes": ["marketing"]},
    {"host": "necessary.example", "path": "", "purposes": ["necessary"]},
]


async def test_rules_match_host_and_subdomains_then_path_most_specific_first(
    visit: Visit, host: HostServer, cmp: CmpServer, path: str
) -> None:
    site = await cmp.call(blocking_site(MATCHING))
    url = host.add(path, page(Tag(cmp.origin, site.key), body=""))
    await visit.page.goto(url)
    # XHR's open() is decided without a request: the ledger says what each URL waits for.
    try_urls = """(urls) => {
        for (const u of urls) new XMLHttpRequest().open('GET', u);
        return window.cmp.blocked().map((b) => [b.url, b.purposes, b.rule.host, b.rule.path]);
    }"""
    urls = [
        "https://tracker.example/a.js", "https://TRACKER.example:8443/b", "http://cdn.tracker.example/c",
        "https://nottracker.example/a", "https://tracker.example.evil.test/a",
        "https://tracker.example/free/x", "https://tracker.example/freedom",
        "https://ads.tracker.example/x", "https://ads.tracker.example/px/1",
        f"{path}../own-tracker/t.js", "other.js", "https://necessary.example/n", "data:,x",
    ]
    got = await visit.page.evaluate(try_urls, urls)
    origin = host.url("")
    assert got == [
        ["https://tracker.example/a.js", ["statistics"], "tracker.example", ""],
        ["https://tracker.example:8443/b", ["statistics"], "tracker.example", ""],
        ["http://cdn.tracker.example/c", ["statistics"], "tracker.example", ""],
        ["https://tracker.example/freedom", ["statistics"], "tracker.example", ""],
        ["https://ads.tracker.example/x", ["marketing"], "ads.tracker.example", "/"],
        ["https://ads.tracker.example/px/1", ["statistics", "marketing"], "ads.tracker.example",
         "/px/"],
        [f"{origin}/own-tracker/t.js", ["marketing"], "site.test", "/own-tracker/"],
    ]
    # A resource waits for all its rule's purposes.
    await visit.page.evaluate("window.cmp.setConsent({statistics: true})")
    got = await visit.page.evaluate(try_urls, [
        "https://tracker.example/a.js", "https://ads.tracker.example/px/2"])
    assert got[-1][0] == "https://ads.tracker.example/px/2" and len(got) == 8


async def test_a_rule_over_the_consent_servers_host_never_holds_the_receipts(
    visit: Visit, host: HostServer, cmp: CmpServer, path: str
) -> None:
    """Staff added a rule naming the consent server's own host (by mistake, or a parent
    domain of it): the banner's receipts still go out, whatever the visitor chose."""
    own = {"host": "cmp.test", "path": "", "purposes": ["marketing"]}
    site = await cmp.call(blocking_site([own]))
    url = host.add(path, page(Tag(cmp.origin, site.key), body=""))
    await visit.page.goto(url)
    await banner(visit.page).get_by_role("button", name="Reject all").click()
    rows = await cmp.wait_receipts(site.key, 1)
    assert [r["method"] for r in rows] == ["reject_all"]
    assert await visit.page.evaluate("window.cmp.blocked()") == []
