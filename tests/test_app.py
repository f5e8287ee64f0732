"""The composition root's own routes (``cmp_server/app.py``): the icon every page asks for."""

from __future__ import annotations

import re

import httpx
from starlette.applications import Starlette

from cmp_server.demo import demo_routes


async def test_the_icon_is_served_where_browsers_ask_and_where_pages_link(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    """Without one, every page cost a 404 (/favicon.ico)."""
    for path in ("/favicon.ico", "/favicon.svg"):
        r = await client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("image/svg+xml")
        assert r.content.startswith(b"<svg") and len(r.content) < 2_000
    login = await client.get("/admin/login")
    links = re.findall(r'<link rel="icon" href="([^"]+)"', login.text)
    assert len(links) == 1 and (await client.get(links[0])).status_code == 200
    # The demo's page, served as `cmp-server demo` serves it (its site need not exist here).
    demo_app = Starlette(routes=demo_routes("no-such-site"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=demo_app),
                                 base_url="http://demo") as browser:
        demo = (await browser.get("/demo/")).text
    (linked,) = re.findall(r'<link rel="icon" href="([^"]+)"', demo)
    assert (await client.get(linked)).status_code == 200
