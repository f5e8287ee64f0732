"""The consent cookie itself: `SameSite=Lax`, `Secure` on https (and only there: a browser drops
a Secure cookie set from an http page), the site's lifetime, and the configured `cookie_domain`
so one choice covers every subdomain. The https cases run against a host site and a CMP origin
served over TLS with a throwaway self-signed certificate."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import unquote

import pytest
from playwright.async_api import Browser

from .banner import banner
from .conftest import Visit, visiting
from .factories import Tag, page, published_site
from .servers import HOST, CmpServer, HostServer, SwitchProxy, running, tls_context

DAY = 86400


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    return tls_context(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def https_host(tls: ssl.SSLContext) -> Iterator[HostServer]:
    server = HostServer(tls)
    with running(server):
        yield server


@pytest.fixture(scope="module")
def https_cmp(cmp: CmpServer, tls: ssl.SSLContext) -> Iterator[SwitchProxy]:
    """The CMP server as an https origin (an https page may not load an http script)."""
    proxy = SwitchProxy(cmp.port, tls)
    with running(proxy):
        yield proxy


@pytest.fixture
async def https_visit(browser: Browser) -> AsyncIterator[Visit]:
    async with visiting(browser, ignore_https_errors=True) as v:
        yield v


async def consent_cookie_of(visit: Visit,
                            until: Callable[[dict[str, Any]], bool] = lambda _: True
                            ) -> dict[str, Any]:
    """The consent cookie as the browser stores it, once it is there and ``until`` holds for it
    (a ``document.cookie`` write reaches the store asynchronously); fails if there are two.
    Read over CDP: Playwright's own cookie list reports "Lax" also for a cookie set without any
    SameSite attribute (the browser's default), CDP only for an explicit one."""
    cdp = await visit.context.new_cdp_session(visit.page)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            cookies = (await cdp.send("Network.getCookies"))["cookies"]
            found = [c for c in cookies if c["name"] == "cmp_consent"]
            if (found and all(until(c) for c in found)) or loop.time() > deadline:
                break
            await asyncio.sleep(0.05)
    finally:
        await cdp.detach()
    [cookie] = found
    return dict(cookie)


def choice(cookie: dict[str, Any]) -> dict[str, bool]:
    choices: dict[str, bool] = json.loads(unquote(cookie["value"]))["choices"]
    return choices


async def test_on_https_the_cookie_is_secure_lax_and_shared_by_subdomains(
    https_visit: Visit, https_host: HostServer, https_cmp: SwitchProxy, cmp: CmpServer,
    path: str
) -> None:
    site = await cmp.call(published_site(cookie_domain=HOST, lifetime_days=90))
    # No blocked scripts: withdrawing below does not reload the page (test_withdrawal.py).
    https_host.add(path, page(Tag(https_cmp.origin, site.key), body=""))
    p = https_visit.page
    await p.goto(https_host.url(path, host=f"a.{HOST}"))
    assert await p.evaluate("location.protocol") == "https:"
    await p.get_by_role("button", name="Accept all").click()
    [row] = await cmp.wait_receipts(site.key, 1)  # through the https origin
    assert row["method"] == "accept_all"

    cookie = await consent_cookie_of(https_visit)
    assert cookie["secure"] is True
    assert cookie.get("sameSite") == "Lax"
    assert (cookie["domain"], cookie["path"]) == (f".{HOST}", "/")
    assert abs(cookie["expires"] - (time.time() + 90 * DAY)) < 3600

    # Another subdomain shares the choice: no banner, the same consent.
    await p.goto(https_host.url(path, host=f"b.{HOST}"))
    consent = await p.evaluate("window.cmp.getConsent()")
    assert (consent["consent_id"], consent["method"]) == (row["consent_id"], "accept_all")
    assert await p.evaluate("window.cmp.hasConsent('marketing')") is True
    # The floating button stands where the banner would be: shown at the same point.
    await p.get_by_role("button", name="Cookie settings").wait_for()
    assert await banner(p).count() == 0
    # A change there is the same cookie (not a second, host-only one).
    await p.evaluate("window.cmp.setConsent({marketing: false})")
    cookie = await consent_cookie_of(https_visit, lambda c: choice(c)["marketing"] is False)
    assert cookie["domain"] == f".{HOST}" and cookie["secure"] is True
    await p.goto(https_host.url(path, host=f"a.{HOST}"))
    assert await p.evaluate("window.cmp.hasConsent('marketing')") is False


async def test_on_http_the_cookie_is_lax_host_only_and_not_secure(
    visit: Visit, host: HostServer, tag: Tag, path: str
) -> None:
    await visit.page.goto(host.add(path, page(tag)))
    await visit.page.get_by_role("button", name="Reject all").click()
    cookie = await consent_cookie_of(visit)
    assert cookie["secure"] is False
    assert cookie.get("sameSite") == "Lax"
    assert (cookie["domain"], cookie["path"]) == (HOST, "/")  # no cookie_domain: host-only
    assert abs(cookie["expires"] - (time.time() + 180 * DAY)) < 3600
