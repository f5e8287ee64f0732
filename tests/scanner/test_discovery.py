"""Discovery on a site with neither robots.txt nor a sitemap: both answer 404."""

import asyncio

import pytest

from scanner import ScanOptions, scan_site
from tests.scanner.fakeweb import FakeWeb, Route

pytestmark = pytest.mark.browser

HOST = "www.plain.test"


async def test_scans_finish_when_robots_and_sitemap_are_missing(web: FakeWeb) -> None:
    # Chromium 156 can hang closing a page whose 404 document is still loading; discovery
    # must read such a response to its end first. A hang shows in some runs only, so several.
    web.add(HOST, "/", Route("<!doctype html><title>Plain</title><p>Nothing to see.</p>"))
    options = ScanOptions(
        start_url=web.url(HOST), max_pages=1, passes=("none",), settle=0.1, idle_timeout=0.5,
        ignore_https_errors=True, browser_args=web.browser_args,
    )
    for _ in range(6):
        report = await asyncio.wait_for(scan_site(options), 60)
        assert [p.status for p in report.pages] == [200]
    seen = {path for host, path in web.log if host == HOST}
    assert {"/robots.txt", "/sitemap.xml"} <= seen


async def test_extra_pages_are_visited_linked_or_not_and_their_sites_are_the_sites(
    web: FakeWeb,
) -> None:
    """A page no link leads to is visited because it was asked for; a page on another of the
    site's domains too, and what it sets is first party there (a site on two domains)."""
    other = "www.plain-other.test"
    web.add(HOST, "/", Route("<!doctype html><title>Plain</title><a href='/linked'>on</a>"))
    web.add(HOST, "/linked", Route("<!doctype html><title>Linked</title>"))
    web.add(HOST, "/hidden", Route("<!doctype html><title>Hidden</title>"))
    web.add(other, "/", Route("<!doctype html><title>Other</title>",
                              headers=(("Set-Cookie", "lang=sv; Path=/; Max-Age=3600"),)))
    options = ScanOptions(
        start_url=web.url(HOST), extra_urls=(web.url(HOST, "/hidden"), web.url(other)),
        max_pages=3, passes=("none",), settle=0.1, idle_timeout=0.5, use_sitemap=False,
        ignore_https_errors=True, browser_args=web.browser_args,
    )
    report = await asyncio.wait_for(scan_site(options), 60)
    # The budget of three holds the start page and the two asked for: no room for the link.
    assert sorted(p.url for p in report.pages) == sorted(
        [web.url(HOST), web.url(HOST, "/hidden"), web.url(other)])
    [lang] = [i for i in report.items if i.name == "lang"]
    assert lang.party == "first"
    with pytest.raises(ValueError, match="page budget of 3"):
        ScanOptions(start_url=web.url(HOST), max_pages=2,
                    extra_urls=(web.url(HOST, "/a"), web.url(HOST, "/b")))
