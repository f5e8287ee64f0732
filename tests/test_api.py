from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from cmp_server.app import create_app
from cmp_server.errors import SiteNotFound
from cmp_server.models import ConsentReceipt
from cmp_server.schemas import ReceiptOut
from cmp_server.services import inventory, publishing, sites
from cmp_server.settings import Settings

from .factories import ORIGIN, published_site, receipt_body

JSON = {"Origin": ORIGIN, "Content-Type": "application/json"}
TEXT = {"Origin": ORIGIN, "Content-Type": "text/plain;charset=UTF-8"}


async def post(
    client: httpx.AsyncClient, key: str, body: object, headers: dict[str, str] = TEXT
) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return await client.post(f"/v1/sites/{key}/consents", content=content, headers=headers)


async def test_config_has_contract_fields_and_etag(client: httpx.AsyncClient) -> None:
    site, version = await published_site()
    r = await client.get(f"/v1/sites/{site.key}/config")
    assert r.status_code == 200
    config = r.json()
    assert config["version"] == 1
    assert [p["key"] for p in config["purposes"]] == [
        "necessary",
        "preferences",
        "statistics",
        "marketing",
    ]
    assert [p["required"] for p in config["purposes"]] == [True, False, False, False]
    assert set(config["languages"]) == {"en", "sv", "da"}
    assert config["texts"]["sv"]["reject_all"] == "Avvisa alla"
    assert config["vendors"][0]["transfers_outside_eea"] is True
    assert {c["name"] for c in config["cookies"]} == {"_ga", "_ga_", "cmp_consent"}
    assert config["options"]["consent_lifetime_days"] == 180
    assert r.headers["etag"] == f'"{version.content_hash}"'
    assert "stale-while-revalidate" in r.headers["cache-control"]
    again = await client.get(
        f"/v1/sites/{site.key}/config", headers={"If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""


async def test_config_of_unknown_or_unpublished_site_is_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/sites/nope/config")
    assert r.status_code == 404
    assert r.json()["error"] == "site_not_found"
    site = await sites.create_site("Draft only", ["draft.example"])
    r = await client.get(f"/v1/sites/{site.key}/config")
    assert r.status_code == 404
    assert r.json()["error"] == "nothing_published"


async def test_publish_makes_a_new_version_with_new_etag(client: httpx.AsyncClient) -> None:
    site, v1 = await published_site()
    first = await client.get(f"/v1/sites/{site.key}/config")
    await sites.update_site(site, texts={"en": {"title": "Cookies, your call"}})
    v2 = await publishing.publish(site)
    assert v2.number == 2
    assert v2.material_hash == v1.material_hash  # a text change is not material
    assert v2.text_hashes["en"] != v1.text_hashes["en"]
    assert v2.text_hashes["sv"] == v1.text_hashes["sv"]
    second = await client.get(
        f"/v1/sites/{site.key}/config", headers={"If-None-Match": first.headers["etag"]}
    )
    assert second.status_code == 200
    assert second.json()["texts"]["en"]["title"] == "Cookies, your call"


async def test_script_inlines_config_and_gzips(client: httpx.AsyncClient) -> None:
    site, version = await published_site()
    r = await client.get(f"/v1/sites/{site.key}/cmp.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["content-encoding"] == "gzip"
    assert b"__CMP_CONFIG__" not in r.content
    assert version.content_hash.encode() not in r.content
    assert f'"site_key":"{site.key}"'.encode() in r.content
    assert (
        await client.get(
            f"/v1/sites/{site.key}/cmp.js", headers={"If-None-Match": r.headers["etag"]}
        )
    ).status_code == 304


async def test_record_receipt_stores_every_field(client: httpx.AsyncClient) -> None:
    site, version = await published_site()
    body = receipt_body()
    r = await post(client, site.key, body, {**TEXT, "User-Agent": "Mozilla/5.0 test"})
    assert r.status_code == 201, r.text
    assert r.headers["access-control-allow-origin"] == ORIGIN
    out = r.json()
    assert out["receipt_id"] == body["receipt_id"]
    row = await ConsentReceipt.get(receipt_id=body["receipt_id"])
    assert row.choices == body["choices"]  # refusals are kept
    assert row.choices["marketing"] is False
    assert row.method == "custom" and row.layer == "second" and row.language == "sv"
    assert row.texts_hash == version.text_hashes["sv"]
    assert row.ip_truncated == "203.0.113.0"
    assert row.user_agent == "Mozilla/5.0 test"
    assert row.page_url == body["page_url"]
    assert (row.expires_at - row.recorded_at).days == 180
    assert row.previous_receipt_id is None
    assert len(row.record_hash) == 64
    # The answer is the documented ReceiptOut, written as pydantic would write it.
    expected = ReceiptOut(
        receipt_id=row.receipt_id,
        consent_id=row.consent_id,
        recorded_at=row.recorded_at,
        expires_at=row.expires_at,
    )
    assert out == expected.model_dump(mode="json")


async def test_second_receipt_links_to_the_first(client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    first = receipt_body(
        method="accept_all",
        choices={"necessary": True, "preferences": True, "statistics": True, "marketing": True},
    )
    assert (await post(client, site.key, first)).status_code == 201
    second = receipt_body(consent_id=first["consent_id"], method="withdraw")
    assert (await post(client, site.key, second)).status_code == 201
    row = await ConsentReceipt.get(receipt_id=second["receipt_id"])
    prior = await ConsentReceipt.get(receipt_id=first["receipt_id"])
    assert row.previous_receipt_id == prior.receipt_id
    assert row.record_hash != prior.record_hash
    history = await client.get(
        f"/v1/sites/{site.key}/consents/{first['consent_id']}", headers={"Origin": ORIGIN}
    )
    assert history.status_code == 200
    assert [h["receipt_id"] for h in history.json()["receipts"]] == [
        first["receipt_id"],
        second["receipt_id"],
    ]
    assert history.json()["receipts"][1]["method"] == "withdraw"


async def test_same_receipt_twice_is_one_row(client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    body = receipt_body()
    a = await post(client, site.key, body)
    b = await post(client, site.key, body)
    assert a.status_code == b.status_code == 201
    assert a.json() == b.json()
    assert await ConsentReceipt.filter(receipt_id=body["receipt_id"]).count() == 1
    changed = {**body, "choices": {**body["choices"], "marketing": True}}
    c = await post(client, site.key, changed)
    assert c.status_code == 409
    assert c.json()["error"] == "receipt_conflict"


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"config_version": 7}, 404, "version_not_found"),
        ({"choices": {"necessary": True, "statistics": True}}, 422, "invalid_consent"),
        (
            {
                "choices": {
                    "necessary": True,
                    "preferences": False,
                    "statistics": True,
                    "marketing": False,
                    "x": True,
                }
            },
            422,
            "invalid_consent",
        ),
        (
            {
                "choices": {
                    "necessary": False,
                    "preferences": False,
                    "statistics": False,
                    "marketing": False,
                }
            },
            422,
            "invalid_consent",
        ),
        ({"method": "accept_all"}, 422, "invalid_consent"),
        ({"method": "reject_all"}, 422, "invalid_consent"),
        ({"language": "fi"}, 422, "invalid_consent"),
        ({"method": "maybe"}, 422, "validation_error"),
        ({"receipt_id": "not-a-uuid"}, 422, "validation_error"),
        ({"page_url": "javascript:alert(1)"}, 422, "validation_error"),
        ({"choices": {"necessary": "yes"}}, 422, "validation_error"),
        ({"extra": 1}, 422, "validation_error"),
        # Strict: what is not a version or a random id is not read as one.
        ({"config_version": True}, 422, "validation_error"),
        ({"config_version": "1"}, 422, "validation_error"),
        ({"config_version": 1.0}, 422, "validation_error"),
        ({"receipt_id": "00000000-0000-0000-0000-000000000000"}, 422, "validation_error"),
        ({"consent_id": "00000000-0000-0000-0000-000000000000"}, 422, "validation_error"),
    ],
)
async def test_bad_receipts_get_clear_errors(
    client: httpx.AsyncClient, overrides: dict[str, object], status: int, code: str
) -> None:
    site, _ = await published_site()
    r = await post(client, site.key, receipt_body(**overrides))
    assert r.status_code == status, r.text
    assert r.json()["error"] == code
    assert r.json()["detail"]
    assert await ConsentReceipt.all().count() == 0


async def test_transport_level_mistakes(client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    assert (await post(client, site.key, b"{not json")).json()["error"] == "malformed_body"
    assert (await post(client, site.key, b"[1,2]")).status_code == 422
    r = await post(
        client, site.key, receipt_body(), {"Origin": ORIGIN, "Content-Type": "application/xml"}
    )
    assert r.status_code == 415
    r = await post(client, site.key, b"x" * 20000)
    assert r.status_code == 413
    r = await post(client, "unknown", receipt_body())
    assert r.status_code == 404


_NUL_KEY = {"necessary": True, "preferences": False, "statistics": True, "marketing\u0000": False}


@pytest.mark.parametrize(
    "overrides",
    [
        {"page_url": "https://www.shop.example/\u0000"},
        {"page_url": "https://www.shop.example/a\u001fb"},
        {"page_url": "https://www.shop.example/a\tb"},
        {"page_url": "https://www.shop.example/" + "a" * 2048},
        {"page_url": "https://www.shop.example/LONE"},  # a lone surrogate, sent escaped
        {"choices": _NUL_KEY},
        {"language": "sv-abcdefgh"},  # longer than the column's 8 characters
    ],
)
async def test_values_the_databases_do_not_store_alike_are_refused_at_the_edge(
    client: httpx.AsyncClient, overrides: dict[str, object]
) -> None:
    # PostgreSQL refuses a NUL (and failed the batch of every receipt beside it), SQLite
    # keeps it: neither may see one.
    site, _ = await published_site()
    body = orjson.dumps(receipt_body(**overrides)).replace(b"LONE", b"\\ud800")
    r = await post(client, site.key, body)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "validation_error"
    assert await ConsentReceipt.all().count() == 0


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("text/plain;charset=UTF-8", 201),
        ('application/json; charset="utf-8"', 201),
        ("application/json", 201),
        ("text/plain;charset=ISO-8859-1", 415),
        ("application/json; charset=utf-16", 415),
    ],
)
async def test_a_receipt_is_utf8(client: httpx.AsyncClient, content_type: str, status: int) -> None:
    site, _ = await published_site()
    headers = {"Origin": ORIGIN, "Content-Type": content_type}
    r = await post(client, site.key, receipt_body(), headers)
    assert r.status_code == status, r.text
    if status == 415:
        assert r.json()["error"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "origin", [None, "https://evil.example", "https://shop.example.evil.example", "null"]
)
async def test_origin_must_be_a_site_domain(client: httpx.AsyncClient, origin: str | None) -> None:
    site, _ = await published_site()
    headers = {"Content-Type": "text/plain"}
    if origin:
        headers["Origin"] = origin
    r = await post(client, site.key, receipt_body(), headers)
    assert r.status_code == 403
    assert r.json()["error"] == "origin_not_allowed"
    # The refusal is readable by the page (so the embed stops retrying), nothing else is.
    assert r.headers.get("access-control-allow-origin") in (None, origin)
    assert await ConsentReceipt.all().count() == 0


async def test_subdomain_origin_and_preflight(client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    r = await client.options(
        f"/v1/sites/{site.key}/consents",
        headers={"Origin": "https://kurs.shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "https://kurs.shop.example"
    r = await client.options(
        f"/v1/sites/{site.key}/consents", headers={"Origin": "https://other.example"}
    )
    assert r.status_code == 403


async def test_forwarded_for_is_trusted_only_from_proxies(app, settings) -> None:  # type: ignore[no-untyped-def]
    site, _ = await published_site()
    app.state.settings = Settings(
        database_url=settings.database_url, trusted_proxies="203.0.113.0/24"
    )
    transport = httpx.ASGITransport(app=app, client=("203.0.113.77", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        body = receipt_body()
        await post(
            c,
            site.key,
            body,
            {**TEXT, "X-Forwarded-For": "198.51.100.23, 2001:db8:abcd:12::1, 203.0.113.5"},
        )
    row = await ConsentReceipt.get(receipt_id=body["receipt_id"])
    assert row.ip_truncated == "2001:db8:abcd::"
    app.state.settings = Settings(database_url=settings.database_url)
    transport = httpx.ASGITransport(app=app, client=("192.0.2.9", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        body = receipt_body()
        await post(c, site.key, body, {**TEXT, "X-Forwarded-For": "198.51.100.23"})
    row = await ConsentReceipt.get(receipt_id=body["receipt_id"])
    assert row.ip_truncated == "192.0.2.0"


async def test_history_of_unknown_consent_is_404(client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    r = await client.get(f"/v1/sites/{site.key}/consents/{uuid.uuid4()}")
    assert r.status_code == 404
    r = await client.get(f"/v1/sites/{site.key}/consents/not-a-uuid")
    assert r.status_code == 404


async def test_declaration_groups_by_purpose_with_transfers(client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    # A vendor whose transfers are not known stays unknown (null), not "no transfer".
    await inventory.add_vendor(site, key="pixel", name="Pixel Co")
    await inventory.add_item(site, name="_px", purpose="marketing", vendor="pixel")
    await inventory.add_item(site, name="own_pref", purpose="preferences")
    await publishing.publish(site)
    r = await client.get(f"/v1/sites/{site.key}/declaration", params={"lang": "da"})
    assert r.status_code == 200
    body = r.json()
    assert body["language"] == "da"
    by_key = {p["key"]: p for p in body["purposes"]}
    assert by_key["statistics"]["name"] == "Statistik"
    ga = next(i for i in by_key["statistics"]["items"] if i["name"] == "_ga")
    assert ga["vendor"] == "Google" and ga["transfers_outside_eea"] is True
    assert ga["transfer_basis"] == "EU-US Data Privacy Framework"
    assert [i["name"] for i in by_key["necessary"]["items"]] == ["cmp_consent"]
    [px] = by_key["marketing"]["items"]
    assert px["vendor"] == "Pixel Co" and px["transfers_outside_eea"] is None
    [own] = by_key["preferences"]["items"]  # no vendor: the site's own, no transfer
    assert own["vendor"] is None and own["transfers_outside_eea"] is False
    config = (await client.get(f"/v1/sites/{site.key}/config")).json()
    assert {v["key"]: v["transfers_outside_eea"] for v in config["vendors"]} == {
        "google": True, "pixel": None}


async def test_unknown_route_gets_json_error(client: httpx.AsyncClient) -> None:
    r = await client.get("/nowhere")
    assert r.status_code == 404
    assert r.json() == {"error": "not_found", "detail": "Not Found"}
    r = await client.delete("/v1/sites/x/config")
    assert r.status_code == 405


async def test_config_lookups_are_shared_and_misses_cached(app, settings) -> None:  # type: ignore[no-untyped-def]
    from cmp_server.services.configs import ConfigCache

    site, _ = await published_site()
    cache = ConfigCache(ttl=60)
    results = await asyncio.gather(*(cache.latest(site.key) for _ in range(50)))
    assert len({id(r) for r in results}) == 1  # one lookup served all fifty
    for _ in range(3):
        with pytest.raises(SiteNotFound):
            await cache.latest("unknownsite")
    other = await sites.create_site("Later", ["later.example"])
    await publishing.publish(other)
    assert (await cache.latest(other.key)).site.key == other.key


async def test_config_cache_holds_a_bounded_number_of_site_keys(app, settings) -> None:  # type: ignore[no-untyped-def]
    from cmp_server.services.configs import ConfigCache

    site, _ = await published_site()
    cache = ConfigCache(ttl=60, max_sites=5)
    await cache.latest(site.key)
    for n in range(20):  # made-up keys, as anyone may send
        with pytest.raises(SiteNotFound):
            await cache.latest(f"madeup{n:04d}")
        assert len(cache) <= 5
    assert len(cache) == 5
    published = await cache.latest(site.key)  # written out long ago, and loaded again
    assert published.site.key == site.key


@pytest.fixture
async def cached(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app that caches configs (the suite's ``app`` looks each one up)."""
    app = create_app(settings.model_copy(update={"config_cache_seconds": 3600}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.77", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


@pytest.mark.parametrize("leaf", ["config", "cmp.js"])
@pytest.mark.parametrize(
    "headers",
    [{}, {"Accept-Encoding": "gzip"}, {"If-None-Match": "stale"}, {"If-None-Match": "*"}],
)
async def test_the_cached_answer_is_the_routes_answer(
    app: Starlette, cached: httpx.AsyncClient, leaf: str, headers: dict[str, str]
) -> None:
    """The first request goes through the route (a miss); the next ones are answered from
    the cache by api.PublishedFastPath: status, headers and body the same, 304 included."""
    client = cached
    site, _ = await published_site()
    url = f"/v1/sites/{site.key}/{leaf}"
    first = await client.get(url, headers=headers)
    assert first.status_code == (304 if headers.get("If-None-Match") == "*" else 200)
    etag = first.headers["etag"]
    for sent in (headers, {**headers, "If-None-Match": etag}):
        route = await client.get(url, headers=sent) if sent is headers else None
        cached = await client.get(url, headers=sent)
        if route is not None:
            assert (route.status_code, route.headers.raw, route.content) == (
                first.status_code, first.headers.raw, first.content)
        assert cached.status_code == (200 if cached.content else 304)
    revalidated = await client.get(url, headers={"If-None-Match": f'"x", {etag}'})
    assert revalidated.status_code == 304 and revalidated.content == b""
    assert revalidated.headers["etag"] == etag


async def test_what_the_cache_cannot_answer_goes_to_the_routes(
    app: Starlette, cached: httpx.AsyncClient
) -> None:
    client = cached
    site, _ = await published_site()
    await client.get(f"/v1/sites/{site.key}/config")  # now cached
    assert (await client.head(f"/v1/sites/{site.key}/config")).status_code == 200
    assert (await client.post(f"/v1/sites/{site.key}/config")).status_code == 405
    assert (await client.get(f"/v1/sites/{site.key}/other")).status_code == 404
    assert (await client.get(f"/v1/sites/{site.key}/config/x")).status_code == 404
    missing = await client.get("/v1/sites/nosuchsite/config")
    assert missing.status_code == 404 and missing.json()["error"] == "site_not_found"


@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [
        ("gzip", True), ("gzip, deflate, br", True), ("br;q=1.0, GZIP;q=0.5", True),
        ("*", True), ("gzip;q=0", False), ("gzip;q=0.0, *", False), ("identity", False),
        ("notgzip", False), ("x-gzip-ish", False), ("gzip;q=nonsense", False), ("", False),
    ],
)
async def test_the_script_is_gzipped_only_where_the_client_takes_it(
    client: httpx.AsyncClient, accept_encoding: str, gzipped: bool
) -> None:
    site, _ = await published_site()
    r = await client.get(f"/v1/sites/{site.key}/cmp.js",
                         headers={"Accept-Encoding": accept_encoding})
    assert r.status_code == 200
    assert (r.headers.get("content-encoding") == "gzip") is gzipped
    assert b"__CMP_CONFIG__" not in r.content  # httpx decodes a gzipped body


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("Mozilla/5.0 (Kursgården; sv-SE) 😀".encode(), "Mozilla/5.0 (Kursgården; sv-SE) 😀"),
        (b"Bot/1.0 \xff\xfe", "Bot/1.0 \ufffd\ufffd"),
        (b"Old/1.0 \x85\x7f", "Old/1.0 \ufffd\ufffd"),  # not UTF-8: replaced, not stored raw
    ],
)
async def test_the_user_agent_is_stored_as_its_bytes_came(
    client: httpx.AsyncClient, sent: bytes, stored: str
) -> None:
    site, _ = await published_site()
    body = receipt_body()
    r = await post(client, site.key, body, headers={**TEXT, "User-Agent": sent})
    assert r.status_code == 201, r.text
    row = await ConsentReceipt.get(receipt_id=body["receipt_id"])
    assert row.user_agent == stored


@pytest.mark.parametrize("page_url", [
    "https://shop.example/\x7f", "https://shop.example/\u0085", "https://shop.example/\ufdd0",
    "https://shop.example/\U0001fffe", "https://shop.example/\uffff",
])
async def test_controls_and_noncharacters_in_the_page_url_are_refused(
    client: httpx.AsyncClient, page_url: str
) -> None:
    site, _ = await published_site()
    r = await post(client, site.key, receipt_body(page_url=page_url))
    assert r.status_code == 422 and "page_url" in r.json()["detail"]


def test_the_openapi_document_states_the_page_url_rule() -> None:
    from cmp_server.openapi import openapi_document

    schema = openapi_document()["components"]["schemas"]["ReceiptIn"]["properties"]["page_url"]
    assert schema["pattern"] == "^https?://"
