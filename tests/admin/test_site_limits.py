"""Site-limited accounts (``services/staff_sites.py``, ``admin/_security.requires``): every
admin route, found from the app itself so that a new route is walked the day it is added, as a
limited account against a site it may not see: 404 (or 403 for the installation's own pages)
and nothing of that site in any answer; the lists show its own sites only; only owners of every
site manage limits."""

from __future__ import annotations

import httpx
import pytest
from markupsafe import escape
from starlette.applications import Starlette
from starlette.routing import Route

from cmp_server.errors import Conflict, InvalidRequest
from cmp_server.models import AuditEntry, Site, Staff
from cmp_server.services import audit, publishing, sites, staff, staff_sites

from ..factories import staff_member
from ._client import csrf_token, sign_in, token_of
from .test_walk import PAYLOAD, _hostile_site, _params, _receipt, _routes

# The pages of the whole installation: an owner limited to some sites gets 403 there.
INSTALLATION = ("/staff", "/sites/new")
UNKNOWN = "NoSuchSiteKey0000"


def actor(row: Staff) -> staff.Actor:
    return staff.Actor(row.id, row.email, row.name, row.role, "s", "t")


async def _allowed_site() -> Site:
    site = await sites.create_site("Allowed shop", ["allowed.example"], force=True)
    await publishing.publish(site)
    return site


async def _limited(role: str, *allowed: Site) -> Staff:
    if role == "owner":  # the last owner of every site is never limited
        await staff_member("owner")
    member = await staff_member(role)
    await staff_sites.set_limits(member.id, True, [s.id for s in allowed], by=None)
    return member


def _markers(values: dict[str, str]) -> list[str]:
    """What of the hidden site must appear nowhere: its key, its names and texts (the
    payload, raw or escaped), its receipts and visitors."""
    return [values["key"], PAYLOAD, str(escape(PAYLOAD)), values["receipt_id"],
            values["consent_id"]]


def _assert_hidden(path: str, r: httpx.Response, markers: list[str]) -> None:
    for marker in markers:
        assert marker not in r.text, f"{path} shows {marker[:30]!r} of a hidden site"


def _methods(route: Route) -> list[str]:
    return sorted(m for m in (route.methods or ()) if m != "HEAD")


async def test_every_route_hides_a_site_the_account_may_not_see(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    values = await _hostile_site()
    await _receipt(client, values["key"], values)
    allowed = await _allowed_site()
    member = await _limited("owner", allowed)  # the highest role: no role check hides a gap
    await sign_in(client, member.email)
    token = await token_of(client)
    markers = _markers(values)
    site_routes = 0
    for route in _routes(app):
        if route.path == "/logout":
            continue  # would end the walk's session; it shows no data
        for method in _methods(route):
            path = "/admin" + route.url_path_for(route.name, **_params(route, values))
            r = await client.request(method, path, data={"csrf_token": token}
                                     if method == "POST" else None)
            where = f"{method} {path}"
            if "{key}" in route.path:
                site_routes += 1
                assert r.status_code == 404, (where, r.status_code)
                # Word for word the answer for a key that names no site (which repeats the
                # key asked for): nothing tells that this one exists.
                nowhere = await client.request(method, path.replace(values["key"], UNKNOWN),
                                               data={"csrf_token": token}
                                               if method == "POST" else None)
                assert nowhere.status_code == 404
                assert r.text.replace(values["key"], UNKNOWN) == nowhere.text, where
                _assert_hidden(where, r, markers[1:])
                continue
            elif route.path.startswith(INSTALLATION):
                assert r.status_code == 403, (where, r.status_code)
            else:
                assert r.status_code < 500, (where, r.status_code)
            _assert_hidden(where, r, markers)
    assert site_routes >= 40  # every site route was walked
    # The lists, asked for the hidden site by its id, show none of it either.
    hidden = await sites.get_site(values["key"])
    for path in ("/admin/", f"/admin/audit?site={hidden.id}", "/admin/audit",
                 "/admin/audit?action=site"):
        r = await client.get(path)
        assert r.status_code in (200, 422), path
        _assert_hidden(path, r, markers)
    export = await client.post("/admin/audit", data={"csrf_token": token, "site": ""})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    _assert_hidden("the audit CSV", export, markers)
    assert "Allowed shop" in (await client.get("/admin/")).text  # its own site is there


async def test_a_limited_account_reaches_nothing_of_another_site_through_its_own(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    """Its own site's key with the hidden site's items, vendors, scans, receipts and
    visitors in the rest of the path: none of them is shown."""
    values = await _hostile_site()
    await _receipt(client, values["key"], values)
    allowed = await _allowed_site()
    member = await _limited("privacy", allowed)
    await sign_in(client, member.email)
    token = await token_of(client)
    # Not the receipt's and the visitor's ids: the "not found" page repeats the id asked for.
    markers = _markers(values)[:3]
    walked = 0
    for route in _routes(app):
        if "{key}" not in route.path or route.path.count("{") < 2:
            continue
        for method in _methods(route):
            params = {**_params(route, values), "key": allowed.key}
            path = "/admin" + route.url_path_for(route.name, **params)
            r = await client.request(method, path, data={"csrf_token": token}
                                     if method == "POST" else None)
            assert r.status_code < 500, (method, path, r.status_code)
            if any(f"{{{n}}}" in route.path for n in ("item_id", "vendor_id", "scan_id",
                                                       "job_id", "receipt_id", "consent_id")):
                assert r.status_code == 404, (method, path, r.status_code)
            _assert_hidden(f"{method} {path}", r, markers)
            walked += 1
    assert walked >= 8


async def test_the_lists_show_the_accounts_own_sites(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    one = await sites.create_site("Client One", ["one.example"], force=True)
    two = await sites.create_site("Client Two", ["two.example"], force=True)
    member = await _limited("viewer", one)
    await sign_in(client, member.email)
    dashboard = await client.get("/admin/")
    assert "Client One" in dashboard.text and "Client Two" not in dashboard.text
    assert two.key not in dashboard.text
    assert (await client.get(f"/admin/sites/{one.key}")).status_code == 200
    assert (await client.get(f"/admin/sites/{two.key}")).status_code == 404
    # The same answer as for a key that names no site: nothing says the site exists.
    unknown = await client.get("/admin/sites/AAAAAAAAAAAA")
    assert unknown.status_code == 404
    nobody = await _limited("viewer")  # limited to no site: sees none, not every one
    client.cookies.clear()
    await sign_in(client, nobody.email)
    empty = await client.get("/admin/")
    assert "Client One" not in empty.text and "Client Two" not in empty.text


async def test_the_audit_log_hides_other_sites_and_the_installations_entries(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    one = await sites.create_site("Client One", ["one.example"], force=True)
    two = await sites.create_site("Client Two", ["two.example"], force=True)
    member = await _limited("privacy", one)
    visible = await audit.entries(audit.AuditFilter(visible=frozenset({one.id})))
    assert visible and {e.site_id for e in visible} == {one.id}
    assert not await audit.entries(audit.AuditFilter(site_id=two.id,
                                                     visible=frozenset({one.id})))
    assert not await audit.entries(audit.AuditFilter(visible=frozenset()))
    await sign_in(client, member.email)
    log = await client.get("/admin/audit")
    assert "Client One" in log.text and "Client Two" not in log.text
    # The installation's entries (accounts, sign-ins, limits) are no site's: not shown.
    assert log.text.count('class="card audit-entry"') == len(visible)
    # The filter offers its own sites only.
    assert f'value="{two.id}"' not in log.text.split('name="site"')[1].split("</select>")[0]


async def test_owners_of_every_site_manage_limits(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    one = await sites.create_site("Client One", ["one.example"], force=True)
    two = await sites.create_site("Client Two", ["two.example"], force=True)
    owner, officer = await staff_member("owner"), await staff_member("privacy")
    await sign_in(client, owner.email)
    page = await client.get(f"/admin/staff/{officer.id}")
    assert page.status_code == 200 and "Every site" in page.text
    saved = await client.post(f"/admin/staff/{officer.id}/sites", data={
        "csrf_token": csrf_token(page.text), "limited": "chosen",
        "sites": [str(one.id), str(two.id)]})
    assert saved.status_code == 303
    assert await staff_sites.grants(officer.id) == {one.id, two.id}
    entry = await AuditEntry.get(action="staff.sites")
    assert entry.before == {"email": officer.email, "sites": "all"}
    assert entry.after == {"email": officer.email, "sites": sorted([one.key, two.key])}
    listed = await client.get("/admin/staff")
    assert "sites: Client One, Client Two" in listed.text
    bad = await client.post(f"/admin/staff/{officer.id}/sites", data={
        "csrf_token": csrf_token(page.text), "limited": "chosen", "sites": ["999999"]})
    assert bad.status_code == 422 and "Choose sites from the list." in bad.text
    back = await client.post(f"/admin/staff/{officer.id}/sites", data={
        "csrf_token": csrf_token(page.text), "limited": "every"})
    assert back.status_code == 303 and await staff_sites.grants(officer.id) is None

    limited_owner = await _limited("owner", one)
    client.cookies.clear()
    await sign_in(client, limited_owner.email)
    for path in ("/admin/staff", f"/admin/staff/{officer.id}", "/admin/sites/new"):
        assert (await client.get(path)).status_code == 403, path
    token = await token_of(client)
    refused = await client.post(f"/admin/staff/{officer.id}/sites", data={
        "csrf_token": token, "limited": "every"})
    assert refused.status_code == 403
    assert (await client.get(f"/admin/sites/{one.key}")).status_code == 200


async def test_the_guards_keep_an_owner_of_every_site(app: Starlette) -> None:
    site = await sites.create_site("Client One", ["one.example"], force=True)
    owner = await staff_member("owner")
    with pytest.raises(InvalidRequest):
        await staff_sites.set_limits(owner.id, True, [site.id], by=actor(owner))
    with pytest.raises(Conflict):  # the last owner of every site
        await staff_sites.set_limits(owner.id, True, [site.id], by=None)
    other = await staff_member("owner")
    await staff_sites.set_limits(owner.id, True, [site.id], by=actor(other))
    # Now ``other`` is the only owner of every site: it cannot be disabled or removed.
    from cmp_server.services import staff_lifecycle

    with pytest.raises(Conflict):
        await staff_lifecycle.set_active(other.id, False, by=None)
    # A limited owner can go: it was never the one keeping every site in reach.
    await staff_lifecycle.set_active(owner.id, False, by=actor(other))
    with pytest.raises(InvalidRequest):
        await staff_sites.set_limits(other.id, True, [999999], by=None)
    await staff_sites.set_limits(owner.id, True, [site.id], by=actor(other))  # no change
    assert await AuditEntry.filter(action="staff.sites").count() == 1


async def test_no_mail_of_a_site_the_account_may_not_see(app: Starlette) -> None:
    from cmp_server.models import Delivery
    from cmp_server.services import events, subscriptions

    one = await sites.create_site("Client One", ["one.example"], force=True)
    two = await sites.create_site("Client Two", ["two.example"], force=True)
    officer = await staff_member("privacy")
    await subscriptions.set_modes(officer, two, {"scan.failed": "instant"}, "en")
    await staff_sites.set_limits(officer.id, True, [one.id], by=None)  # chosen before
    await events.emit(two, "scan.failed", {"error": "x"})
    assert not await Delivery.filter(staff_id=officer.id).exists()
    await staff_sites.set_limits(officer.id, True, [one.id, two.id], by=None)
    await events.emit(two, "scan.failed", {"error": "x"})
    assert await Delivery.filter(staff_id=officer.id).count() == 1
    # An account's lock goes to the owners of every site; a site's notice to its owners.
    boss = await staff_member("owner")
    limited_owner = await _limited("owner", one)
    await events.emit(None, "account.locked", {"email": "x@example.org"}, audience="owners")
    assert await Delivery.filter(staff_id=boss.id).count() == 1
    assert not await Delivery.filter(staff_id=limited_owner.id).exists()
    await events.emit(two, "webhook.disabled", {"url": "https://x.example/"},
                      audience="owners")
    assert not await Delivery.filter(staff_id=limited_owner.id).exists()
    await events.emit(one, "webhook.disabled", {"url": "https://x.example/"},
                      audience="owners")
    assert await Delivery.filter(staff_id=limited_owner.id).count() == 1
