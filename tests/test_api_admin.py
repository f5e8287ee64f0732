"""The JSON admin API (``admin/api``), every endpoint: its scope (a read token refused where
the HTML page needs the privacy role), a token for another site (404, as for no site), no
token, a revoked and an expired token (401), bad input (a 4xx with a JSON error, never a
5xx), and what the good call does, through the same services as the HTML admin (the
version checks, the fingerprint, the audit log as ``token:NAME``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from cmp_server._utils import utcnow
from cmp_server.models import ApiToken, AuditEntry, InventoryItem, ScanJob, Site, Vendor
from cmp_server.services import scans
from cmp_server.settings import Settings

from ._api import API, bearer, make_token
from .factories import published_site, staff_member

# (method, path, scope, body): {key} {item} {vendor} {job} {language} filled per test.
ENDPOINTS: list[tuple[str, str, str, Any]] = [
    ("GET", "/sites/{key}", "read", None),
    ("GET", "/sites/{key}/inventory", "read", None),
    ("GET", "/sites/{key}/inventory/{item}", "read", None),
    ("PUT", "/sites/{key}/inventory/{item}", "write", "item"),
    ("POST", "/sites/{key}/inventory/bulk", "write", "bulk"),
    ("GET", "/sites/{key}/vendors", "read", None),
    ("GET", "/sites/{key}/vendors/{vendor}", "read", None),
    ("PUT", "/sites/{key}/vendors/{vendor}", "write", "vendor"),
    ("GET", "/sites/{key}/draft", "read", None),
    ("PUT", "/sites/{key}/draft/texts/en", "write", "texts"),
    ("GET", "/sites/{key}/draft/lint", "read", None),
    ("POST", "/sites/{key}/publish", "write", "publish"),
    ("GET", "/sites/{key}/versions", "read", None),
    ("GET", "/sites/{key}/scans", "read", None),
    ("POST", "/sites/{key}/scans", "write", "scan"),
    ("GET", "/sites/{key}/scans/jobs/{job}", "read", None),
    ("POST", "/sites/{key}/scans/jobs/{job}/cancel", "write", None),
    ("GET", "/sites/{key}/scans/{job}", "read", None),
    ("GET", "/sites/{key}/consents", "read", None),
    ("POST", "/sites/{key}/exports", "write", "export"),
    ("GET", "/sites/{key}/analytics?from=2026-01-01&to=2026-01-31", "read", None),
]
IDS = [f"{m} {p.split('?')[0]}" for m, p, _, _ in ENDPOINTS]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Scans of this machine allowed (no scan runs: no worker)."""
    return settings.model_copy(update={"allow_private_scan_targets": True})


async def _world() -> dict[str, Any]:
    site, _ = await published_site()
    other, _ = await published_site("Other", ("other.example",))
    item = await InventoryItem.filter(site=site, name="_ga").first()
    vendor = await Vendor.filter(site=site).first()
    job = await scans.request_scan(site, start_url="http://127.0.0.1:9/", allow_private=True)
    assert item and vendor
    return {"site": site, "other": other, "key": site.key, "item": item.id,
            "vendor": vendor.id, "job": job.id}


async def _body(client: httpx.AsyncClient, kind: str | None, w: dict[str, Any],
                token: str) -> Any:
    h = bearer(token)
    if kind == "item":
        got = (await client.get(f"{API}/sites/{w['key']}/inventory/{w['item']}",
                                headers=h)).json()
        fields = ("name", "match", "kind", "domain", "party", "purpose", "vendor",
                  "description", "review_status", "version")
        return {**{f: got[f] for f in fields}, "duration_days": 42}
    if kind == "vendor":
        got = (await client.get(f"{API}/sites/{w['key']}/vendors/{w['vendor']}",
                                headers=h)).json()
        return {"name": "Google LLC", "country": "US", "version": got["version"]}
    if kind == "texts":
        got = (await client.get(f"{API}/sites/{w['key']}/draft", headers=h)).json()
        return {"texts": {"title": "Cookies on this shop"}, "version": got["versions"]["en"]}
    if kind == "publish":  # a draft with a change to publish, and its summary's fingerprint
        got = (await client.get(f"{API}/sites/{w['key']}/draft", headers=h)).json()
        await client.put(f"{API}/sites/{w['key']}/draft/texts/sv", headers=h, json={
            "texts": {"title": f"Kakor {len(got['summary']['fingerprint'])}"},
            "version": got["versions"]["sv"]})
        got = (await client.get(f"{API}/sites/{w['key']}/draft", headers=h)).json()
        return {"fingerprint": got["summary"]["fingerprint"]}
    return {
        None: None, "bulk": {"items": [w["item"]], "action": "mark_reviewed"},
        "scan": {"start_url": "http://127.0.0.1:9/", "passes": ["none"]},
        "export": {"format": "jsonl"},
    }[kind]


def _path(template: str, w: dict[str, Any], key: str | None = None) -> str:
    return API + template.format(key=key or w["key"], item=w["item"], vendor=w["vendor"],
                                 job=w["job"])


async def _call(client: httpx.AsyncClient, method: str, path: str, token: str | None,
                body: Any = None) -> httpx.Response:
    return await client.request(method, path, headers=bearer(token) if token else {},
                                json=body)


def _is_error(r: httpx.Response, status: int | tuple[int, ...]) -> dict[str, Any]:
    wanted = status if isinstance(status, tuple) else (status,)
    assert r.status_code in wanted, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/json"
    found: dict[str, Any] = r.json()["error"]
    assert found["code"] and found["message"]
    return found


@pytest.mark.parametrize(("method", "template", "scope", "kind"), ENDPOINTS, ids=IDS)
async def test_every_endpoint_checks_token_scope_and_site(
    client: httpx.AsyncClient, method: str, template: str, scope: str, kind: Any
) -> None:
    w = await _world()
    site, other = w["site"], w["other"]
    writer = await make_token("write", [site.id])
    body = await _body(client, kind, w, writer)
    path = _path(template, w)

    _is_error(await _call(client, method, path, None, body), 401)
    _is_error(await _call(client, method, path, "cmp_nothing_here", body), 401)
    reader = await make_token("read", [site.id])
    elsewhere = await make_token("write", [other.id])
    # Another site's token learns nothing: the same 404 as a key that names no site.
    assert _is_error(await _call(client, method, path, elsewhere, body), 404)["code"] == (
        "site_not_found")
    _is_error(await _call(client, method, _path(template, w, "nosuchsite"), writer, body), 404)
    revoked = await make_token("write", [site.id])
    await ApiToken.filter(public_id=revoked.split("_")[1]).update(revoked_at=utcnow())
    assert "revoked" in _is_error(await _call(client, method, path, revoked, body),
                                  401)["message"]
    expired = await make_token("write")
    await ApiToken.filter(public_id=expired.split("_")[1]).update(
        expires_at=utcnow() - timedelta(seconds=1))
    assert "expired" in _is_error(await _call(client, method, path, expired, body),
                                  401)["message"]
    if scope == "write":
        assert _is_error(await _call(client, method, path, reader, body),
                         403)["code"] == "insufficient_scope"
    else:
        assert (await _call(client, method, path, reader)).status_code == (
            404 if template.endswith("/scans/{job}") else 200)
    before = await AuditEntry.filter(actor__startswith="token:").count()
    good = await _call(client, method, path, writer, body)
    if template.endswith("/scans/{job}"):  # a job id is no stored scan's
        _is_error(good, 404)
    else:
        assert good.status_code in (200, 201), good.text
    if method != "GET" and not template.endswith("/exports"):
        assert await AuditEntry.filter(actor__startswith="token:").count() > before


@pytest.mark.parametrize(("method", "template", "kind", "bad"), [
    ("GET", "/sites/{key}/inventory?per_page=7", None, None),
    ("GET", "/sites/{key}/inventory?status=x&status=y", None, None),
    ("GET", "/sites/{key}/inventory/abc", None, None),
    ("PUT", "/sites/{key}/inventory/{item}", "item", {"duration_days": -1}),
    ("PUT", "/sites/{key}/inventory/{item}", "item", {"purpose": "nope"}),
    ("PUT", "/sites/{key}/inventory/{item}", "item", {"version": "x"}),
    ("PUT", "/sites/{key}/inventory/{item}", "item", {"name": "a\x00b"}),
    ("POST", "/sites/{key}/inventory/bulk", "bulk", {"action": "explode"}),
    ("POST", "/sites/{key}/inventory/bulk", "bulk", {"items": []}),
    ("POST", "/sites/{key}/inventory/bulk", "bulk", {"items": [99999999]}),
    ("PUT", "/sites/{key}/vendors/{vendor}", "vendor", {"country": "Sweden"}),
    ("PUT", "/sites/{key}/draft/texts/en", "texts", {"texts": {"nope": "x"}}),
    ("PUT", "/sites/{key}/draft/texts/xx", "texts", {}),
    ("POST", "/sites/{key}/publish", "publish", {"fingerprint": "0" * 64}),
    ("POST", "/sites/{key}/publish", "publish", {"fingerprint": "short"}),
    ("POST", "/sites/{key}/scans", "scan", {"max_pages": 0}),
    ("POST", "/sites/{key}/scans", "scan", {"passes": ["all"]}),
    ("GET", "/sites/{key}/scans?before=x", None, None),
    ("GET", "/sites/{key}/consents?from=2026-13-01", None, None),
    ("GET", "/sites/{key}/consents?after=zz", None, None),
    ("POST", "/sites/{key}/exports", "export", {"format": "xls"}),
    ("GET", "/sites/{key}/analytics?from=2026-02-01&to=2026-01-01", None, None),
    ("GET", "/sites/{key}/analytics", None, None),
    ("GET", "/audit?from=yesterday", None, None),
    # Ids past 32 bits: PostgreSQL's driver would refuse to send them (a 500).
    ("GET", "/sites/{key}/inventory/751212058526", None, None),
    ("PUT", "/sites/{key}/vendors/9999999999", "vendor", None),
    ("POST", "/sites/{key}/inventory/bulk", "bulk", {"items": [2**31]}),
    ("POST", "/sites/{key}/inventory/bulk", "bulk", {"versions": {str(2**40): 1}}),
    ("GET", "/sites/{key}/scans?before=99999999999", None, None),
    ("GET", "/sites/{key}/scans/jobs/4294967296", None, None),
    ("POST", "/sites/{key}/scans/jobs/4294967296/cancel", None, None),
    ("GET", "/sites/{key}/scans/4294967296", None, None),
    ("GET", "/audit?site=4294967296", None, None),
    ("GET", "/audit?staff=99999999999", None, None),
])
async def test_bad_input_is_a_4xx_with_a_json_error(
    client: httpx.AsyncClient, method: str, template: str, kind: Any, bad: Any
) -> None:
    w = await _world()
    token = await make_token("write")
    body = await _body(client, kind, w, token)
    if bad is not None:
        body = {**body, **bad}
    r = await _call(client, method, _path(template, w), token, body)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    _is_error(r, r.status_code)


async def test_a_body_that_is_not_json_is_refused(client: httpx.AsyncClient) -> None:
    w = await _world()
    token = await make_token("write")
    path = _path("/sites/{key}/inventory/bulk", w)
    for content, kind, status in ((b"{", "application/json", 422),
                                  (b"[1]", "application/json", 422),
                                  (b"items=1", "application/x-www-form-urlencoded", 422)):
        r = await client.post(path, content=content,
                              headers={**bearer(token), "content-type": kind})
        _is_error(r, status)


async def test_an_edit_over_a_newer_version_is_refused_and_names_it(
    client: httpx.AsyncClient
) -> None:
    w = await _world()
    token = await make_token("write")
    body = await _body(client, "item", w, token)
    path = _path("/sites/{key}/inventory/{item}", w)
    first = await _call(client, "PUT", path, token, body)
    assert first.status_code == 200 and first.json()["duration_days"] == 42
    stale = await _call(client, "PUT", path, token, {**body, "duration_days": 7})
    assert _is_error(stale, 409)["code"] == "stale_edit"
    again = await _call(client, "PUT", path, token,
                        {**body, "duration_days": 7, "version": first.json()["version"]})
    assert again.status_code == 200 and again.json()["duration_days"] == 7


async def test_publish_uses_the_fingerprint_and_the_audit_names_the_token(
    client: httpx.AsyncClient
) -> None:
    w = await _world()
    token = await make_token("write", name="CI deploy")
    texts = await _body(client, "texts", w, token)
    edited = await _call(client, "PUT", _path("/sites/{key}/draft/texts/en", w), token, texts)
    assert edited.json()["changed"]["title"]["after"] == "Cookies on this shop"
    fingerprint = (await _body(client, "publish", w, token))["fingerprint"]
    # The draft moves on after the summary was read: that publish is refused.
    texts = await _body(client, "texts", w, token)
    await _call(client, "PUT", _path("/sites/{key}/draft/texts/en", w), token,
                {**texts, "texts": {"title": "Changed again"}})
    refused = await _call(client, "POST", _path("/sites/{key}/publish", w), token,
                          {"fingerprint": fingerprint})
    assert _is_error(refused, 409)["code"] == "conflict"
    fresh = await _body(client, "publish", w, token)
    done = await _call(client, "POST", _path("/sites/{key}/publish", w), token, fresh)
    assert done.status_code == 201 and done.json()["number"] == 2
    entry = await AuditEntry.filter(action="config.publish").order_by("-id").first()
    if entry is None:
        entry = await AuditEntry.filter(actor="token:CI deploy").order_by("-id").first()
    assert entry is not None and entry.actor == "token:CI deploy"


async def test_the_inventory_list_is_the_html_lists_query(client: httpx.AsyncClient) -> None:
    w = await _world()
    token = await make_token("read")
    site: Site = w["site"]
    await InventoryItem.bulk_create([InventoryItem(site=site, name=f"x{i:03d}", description={})
                                     for i in range(30)])
    r = await client.get(f"{API}/sites/{site.key}/inventory?q=x0&sort=-name&per_page=25"
                         "&page=2", headers=bearer(token))
    body = r.json()
    assert r.status_code == 200 and body["total"] == 30 and body["pages"] == 2
    assert [i["name"] for i in body["items"]] == [f"x{i:03d}" for i in range(4, -1, -1)]
    assert set(body["versions"]) == {str(i["id"]) for i in body["items"]}


async def test_a_scan_is_started_followed_and_cancelled(client: httpx.AsyncClient) -> None:
    w = await _world()
    token = await make_token("write")
    started = await _call(client, "POST", _path("/sites/{key}/scans", w), token,
                          {"start_url": "http://127.0.0.1:9/", "max_pages": 3})
    assert started.status_code == 201
    job = started.json()["job_id"]
    assert started.json()["max_pages"] == 3 and job != w["job"]
    status = await _call(client, "GET", f"{API}/sites/{w['key']}/scans/jobs/{job}", token)
    assert status.json()["status"] == "queued" and status.json()["job_id"] == job
    cancel = f"{API}/sites/{w['key']}/scans/jobs/{job}/cancel"
    assert (await _call(client, "POST", cancel, token)).json()["status"] == "cancelled"
    assert _is_error(await _call(client, "POST", cancel, token), 409)["code"] == "conflict"
    assert (await ScanJob.get(id=job)).status == "cancelled"


async def test_the_audit_log_keeps_to_the_tokens_sites(client: httpx.AsyncClient) -> None:
    w = await _world()
    mine = await make_token("write", [w["site"].id])
    await _call(client, "POST", _path("/sites/{key}/inventory/bulk", w), mine,
                {"items": [w["item"]], "action": "mark_gone"})
    everything = await make_token("write")
    other = w["other"]
    other_item = await InventoryItem.filter(site=other).first()
    assert other_item is not None
    await _call(client, "POST", f"{API}/sites/{other.key}/inventory/bulk", everything,
                {"items": [other_item.id], "action": "mark_gone"})
    seen = (await client.get(f"{API}/audit", headers=bearer(mine))).json()["entries"]
    assert {e["site"] for e in seen} == {w["key"]}
    changed = {e["object_id"] for e in seen if e["action"].startswith("inventory.")}
    assert changed == {str(w["item"])}
    everyone = (await client.get(f"{API}/audit", headers=bearer(everything))).json()
    assert other.key in {e["site"] for e in everyone["entries"]}
    sites = (await client.get(f"{API}/sites", headers=bearer(mine))).json()["sites"]
    assert [s["key"] for s in sites] == [w["key"]]


async def test_a_token_stops_with_its_owner(client: httpx.AsyncClient) -> None:
    owner = await staff_member("owner")
    token = await make_token("read", owner=owner)
    assert (await client.get(f"{API}/sites", headers=bearer(token))).status_code == 200
    owner.active = False
    await owner.save(update_fields=["active"])
    _is_error(await client.get(f"{API}/sites", headers=bearer(token)), 401)


async def test_the_html_admin_takes_ids_past_32_bits_as_no_such_thing(
    client: httpx.AsyncClient
) -> None:
    """The same parsers serve the pages: on PostgreSQL these were 500s."""
    from .admin._client import sign_in

    w = await _world()
    member = await staff_member("privacy")
    await sign_in(client, member.email)
    big = 2**31
    for path, status in ((f"/admin/sites/{w['key']}/inventory/{big}", 404),
                         (f"/admin/sites/{w['key']}/vendors/{big}", 404),
                         (f"/admin/sites/{w['key']}/scans/jobs/{big}", 404),
                         (f"/admin/sites/{w['key']}/scans/{big}", 404),
                         (f"/admin/audit?site={big}", 422), (f"/admin/audit?staff={big}", 422)):
        assert (await client.get(path)).status_code == status, path


async def test_a_body_past_the_admins_limit_is_a_json_413(client: httpx.AsyncClient) -> None:
    w = await _world()
    token = await make_token("write")
    r = await client.post(_path("/sites/{key}/inventory/bulk", w), headers={
        **bearer(token), "content-type": "application/json"}, content=b" " * (2 << 20))
    assert _is_error(r, 413)["code"] == "body_too_large"


def test_the_openapi_document_describes_every_route_and_its_scope() -> None:
    """Every route of the API is in the document, with the scope its endpoint checks."""
    from starlette.routing import Route

    from admin.api import inventory, publishing, records
    from cmp_server.openapi import openapi_document

    paths = openapi_document()["paths"]
    routes = [r for m in (inventory, publishing, records) for r in m.routes
              if isinstance(r, Route)]
    described = {(p, m.upper()) for p, ops in paths.items() if p.startswith(API)
                 for m in ops}
    served = {(API + r.path, m) for r in routes for m in (r.methods or ()) if m != "HEAD"}
    assert described == served
    for route in routes:
        for method in route.methods or ():
            if method != "HEAD":
                operation = paths[API + route.path][method.lower()]
                assert operation["x-required-scope"] == route.endpoint.required_scope
                assert operation["tags"] == ["admin"]
