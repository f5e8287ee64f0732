""""Set by" names the script our embed released, not the embed (issue 19: Meta's _fbp and
Google's _ga were credited to our own cmp.js). Real Chromium, the real embed with a published
config, a hand-marked inline and src script and an automatically held one, each setting a
cookie once the scanner accepts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette

from cmp_server.models import ConfigVersion
from cmp_server.services.configs import embed_bundle, render_script
from scanner import ScanOptions, scan_site

from .embed.factories import blocking_site
from .scanner.fakeweb import FakeWeb, Route

pytestmark = pytest.mark.browser

HOST = "www.released.test"
JS = "application/javascript"


@pytest.fixture(scope="module")
def web() -> Iterator[FakeWeb]:
    server = FakeWeb().start()
    yield server
    server.stop()


async def test_a_released_script_is_credited_with_its_own_cookie(
    app: Starlette, web: FakeWeb
) -> None:
    site = await blocking_site([{"host": "held.vendor.test", "path": "",
                                 "purposes": ["marketing"]}])
    version = await ConfigVersion.filter(site=site).order_by("-number").first()
    assert version is not None
    embed = f"/v1/sites/{site.key}/cmp.js"
    web.add("consent.cmp.test", embed,
            Route(render_script(embed_bundle(), version.canonical_json.encode()), JS))
    web.add("src.vendor.test", "/marked.js", Route("document.cookie = 'marked_src=1; path=/';",
                                                   JS))
    web.add("held.vendor.test", "/held.js", Route("document.cookie = 'held_src=1; path=/';", JS))
    page = (
        "<!doctype html><html lang='en'><head><title>Released</title>"
        f"<script src='https://consent.cmp.test:__PORT__{embed}'></script>"
        "<script type='text/plain' data-cmp-category='statistics'>"
        "document.cookie = 'marked_inline=1; path=/';</script>"
        "<script type='text/plain' data-cmp-category='statistics' "
        "src='https://src.vendor.test:__PORT__/marked.js'></script>"
        "<script>var s = document.createElement('script');"
        "s.src = 'https://held.vendor.test:__PORT__/held.js'; document.head.appendChild(s);"
        "</script></head><body><h1>Released</h1></body></html>"
    )
    web.add(HOST, "/", Route(page))
    report = await scan_site(ScanOptions(
        start_url=web.url(HOST), max_pages=1, passes=("none", "accept"), settle=1,
        idle_timeout=1, consent_timeout=5, ignore_https_errors=True, use_sitemap=False,
        browser_args=web.browser_args,
    ))
    assert report.consent["accept"] == "cmp"
    by_name = {i.name: i for i in report.items if i.kind == "cookie"}
    credited = {n: (i.passes, i.initiator) for n, i in by_name.items()}
    assert credited["marked_inline"] == (("accept",), web.url(HOST)), credited
    assert credited["marked_src"] == (("accept",), web.url("src.vendor.test", "/marked.js"))
    assert credited["held_src"] == (("accept",), web.url("held.vendor.test", "/held.js"))
    # What the embed writes itself stays its own.
    assert credited["cmp_consent"][1] == web.url("consent.cmp.test", embed)
