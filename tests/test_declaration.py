"""The cookie declaration (``services/declaration.py``), served once per version and language."""

from __future__ import annotations

import httpx
import orjson
from starlette.applications import Starlette

from cmp_server.services import inventory, publishing
from cmp_server.services.configs import ConfigCache

from .factories import published_site


async def test_served_once_per_version_and_language(app: Starlette) -> None:
    site, _ = await published_site()
    cache = ConfigCache(ttl=60)
    published = await cache.latest(site.key)
    sv, body = published.declaration("sv")
    assert sv == "sv"
    # The same bytes object again: serialised once, not per request.
    assert published.declaration("sv")[1] is body
    # A language the site does not have is the default language, sharing its entry.
    assert published.declaration("de") == published.declaration(None)
    assert published.declaration("de")[0] == "en"
    assert orjson.loads(body)["version"] == published.number


async def test_the_route_serves_the_new_version_after_a_publish(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    first = await client.get(f"/v1/sites/{site.key}/declaration", params={"lang": "sv"})
    assert first.status_code == 200 and first.headers["content-type"] == "application/json"
    await inventory.add_item(site, name="_hjid", purpose="statistics", duration_days=365)
    await publishing.publish(site)
    app.state.configs.forget(site.key)
    second = await client.get(f"/v1/sites/{site.key}/declaration", params={"lang": "sv"})
    assert second.headers["etag"] != first.headers["etag"]
    names = [i["name"] for p in second.json()["purposes"] for i in p["items"]]
    assert "_hjid" in names
    assert "_hjid" not in [i["name"] for p in first.json()["purposes"] for i in p["items"]]
