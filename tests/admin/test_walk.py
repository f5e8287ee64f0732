"""Every admin page and every form, walked: hostile text that staff, scans and visitors typed
renders inert everywhere, and malformed form input (missing fields, wrong types, huge values,
NUL bytes, odd unicode) gets an answer, never a 500.

The walk finds the routes and the forms itself (the forms from the pages' own HTML), so a new
page is covered the day it is added; a route with a path parameter this module cannot fill
fails the test until it is taught (``_params``)."""

from __future__ import annotations

import re
import uuid
from html.parser import HTMLParser
from typing import Any

import httpx
from markupsafe import escape
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from cmp_server.models import Scan, Site
from cmp_server.services import inventory, password_reset, publishing, sites, staff
from scanner import PossibleViolation

from ..factories import ORIGIN, PASSWORD, receipt_body, staff_member
from ._client import sign_in, token_of

# Breaks out of a text node, an attribute (either quote) and a script string alike.
PAYLOAD = "\"'><script>window.pwned=1</script><img src=x onerror=window.pwned=1>"
RAW = ("<script>window.pwned", "<img src=x onerror")
LOGIN = "/login"


def _routes(app: Starlette) -> list[Route]:
    mount = next(r for r in app.routes if isinstance(r, Mount) and r.name == "admin")
    return [r for r in mount.routes if isinstance(r, Route)]


async def _hostile_site() -> dict[str, str]:
    """A site where every name and text anyone typed is the payload; the values that fill
    the admin's path parameters."""
    site = await sites.create_site(PAYLOAD, ["kurs.example", "www.shop.example"], force=True)
    await sites.update_site(site, texts={"en": {"title": PAYLOAD, "description": PAYLOAD}})
    await sites.set_purpose(site, "statistics", name={"en": PAYLOAD},
                            description={"en": PAYLOAD})
    vendor = await inventory.add_vendor(site, key="evil", name=PAYLOAD, country="US",
                                        transfer_basis=PAYLOAD)
    item = await inventory.add_item(site, name=PAYLOAD, purpose="statistics", vendor="evil",
                                    description={"en": PAYLOAD}, review_status="unreviewed",
                                    source="scan")
    await publishing.publish(site)
    await sites.update_site(site, texts={"en": {"accept_all": PAYLOAD}})  # a draft change
    scan = await _hostile_scan(site)
    # Another account, named by the payload, with an open reset link (the walk's own owner
    # cannot act on itself: the guard would refuse every form).
    member = await staff.create_staff(f"{uuid.uuid4().hex[:8]}@example.org", PASSWORD,
                                      "privacy", name=PAYLOAD)
    reset = await password_reset.issue(member.id, by=None, link=lambda token: token)
    endpoint = await _hostile_webhook(site)
    token = await _hostile_token(site)
    from cmp_server.models import ScanSchedule

    # Stored as it is (the service refuses such URLs): the pages must escape it all the same.
    schedule = await ScanSchedule.create(
        site=site, start_url=f"https://www.shop.example/?q={PAYLOAD}",
        extra_urls=[f"https://kurs.example/{PAYLOAD}"], passes=["none"])
    return {"schedule_id": str(schedule.id), "key": site.key, "item_id": str(item.id),
            "vendor_id": str(vendor.id),
            "purpose": "statistics", "number": "1", "scan_id": str(scan.id),
            "job_id": str(scan.job_id),  # type: ignore[attr-defined]
            "staff_id": str(member.id), "token": reset.url, "endpoint_id": str(endpoint),
            "token_id": str(token)}


async def _hostile_token(site: Site) -> int:
    """An API token named by the payload, for the site."""
    from datetime import timedelta

    from cmp_server._utils import utcnow
    from cmp_server.services import api_tokens

    owner = await staff.create_staff(f"{uuid.uuid4().hex[:8]}@example.org", PASSWORD, "owner")
    issued = await api_tokens.create_token(
        PAYLOAD[:80], "write", [site.id], utcnow() + timedelta(days=1),
        by=staff.Actor(id=owner.id, email=owner.email, name="", role="owner", session_id="",
                       csrf_token=""))
    return issued.row.id


async def _hostile_webhook(site: Site) -> int:
    """An endpoint described by the payload, whose receiver answered the payload."""
    from cmp_server._utils import utcnow
    from cmp_server.models import Delivery, DeliveryAttempt
    from cmp_server.services import events, webhooks

    endpoint = await webhooks.add_endpoint(
        site, f"http://127.0.0.1:9/?q={PAYLOAD}", ["scan.failed"], actor=None,
        allow_private=True, description=PAYLOAD)
    event = await events.emit(site, "scan.failed", {"error": PAYLOAD})
    delivery = await Delivery.get(event=event)
    await DeliveryAttempt.create(delivery=delivery, at=utcnow(), status_code=500,
                                 duration_ms=3, excerpt=PAYLOAD, error=PAYLOAD)
    return endpoint.id


async def _hostile_scan(site: Site) -> Scan:
    """A scan that found the payload everywhere a page can read it: names, vendors, URLs,
    reasons (a site may set any of them)."""
    from cmp_server.services import scans
    from cmp_server.services.scan_results import store_scan

    from ..test_scans import finding, item, report

    job = await scans.request_scan(site, start_url="http://127.0.0.1:9/", allow_private=True)
    found = item(PAYLOAD, "unclassified", PAYLOAD, domain=PAYLOAD, vendor_name=PAYLOAD,
                 initiator=f"https://x.example/{PAYLOAD}",
                 first_seen_url=f"https://www.shop.example/?q={PAYLOAD}")
    return await store_scan(site, report(found, review=(
        finding(PossibleViolation, PAYLOAD, "unclassified").model_copy(
            update={"domain": PAYLOAD, "reason": PAYLOAD, "url": PAYLOAD}),)), job=job)


async def _receipt(client: httpx.AsyncClient, key: str, values: dict[str, str]) -> None:
    body = receipt_body(page_url=f"https://www.shop.example/?q={PAYLOAD}")
    r = await client.post(f"/v1/sites/{key}/consents", json=body, headers={
        "Origin": ORIGIN, "User-Agent": PAYLOAD})
    assert r.status_code == 201, r.text
    values.update(receipt_id=body["receipt_id"], consent_id=body["consent_id"])


def _params(route: Route, values: dict[str, str]) -> dict[str, str]:
    names = re.findall(r"{(\w+)(?::\w+)?}", route.path)
    missing = [n for n in names if n not in values]
    assert not missing, f"{route.path}: teach test_walk.py a value for {missing}"
    return {n: values[n] for n in names}


class Forms(HTMLParser):
    """The POST forms of a page: their action and the names of their fields."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._open: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "get").lower() == "post":
            self._open = {}
            self.forms.append((a.get("action", ""), self._open))
        elif tag in ("input", "select", "textarea") and self._open is not None and a.get("name"):
            self._open.setdefault(a["name"], a.get("type", tag))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


async def _signed_in_owner(client: httpx.AsyncClient) -> None:
    owner = await staff_member("owner")
    await sign_in(client, owner.email)


async def test_hostile_text_is_inert_on_every_page(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    values = await _hostile_site()
    await _receipt(client, values["key"], values)
    await _signed_in_owner(client)
    shown = 0
    for route in _routes(app):
        if "GET" not in (route.methods or ()) or route.path == LOGIN:
            continue
        path = "/admin" + route.url_path_for(route.name, **_params(route, values))
        r = await client.get(path)
        assert r.status_code < 500, (path, r.status_code)
        for raw in RAW:
            assert raw not in r.text, f"{path} renders the payload raw"
        if str(escape(PAYLOAD)) in r.text:
            shown += 1
    assert shown >= 3  # the payload was on the pages, as text


async def test_malformed_input_to_every_form_is_answered_never_a_500(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    values = await _hostile_site()
    await _receipt(client, values["key"], values)
    await _signed_in_owner(client)
    token = await token_of(client)
    forms: dict[str, dict[str, str]] = {}
    for route in _routes(app):
        if "GET" not in (route.methods or ()) or route.path == LOGIN:
            continue
        page = await client.get("/admin" + route.url_path_for(route.name,
                                                               **_params(route, values)))
        parser = Forms()
        parser.feed(page.text)
        for action, fields in parser.forms:
            # Signing out and changing one's own password end the session the walk runs in
            # (the password form's own checks: tests/admin/test_accounts.py).
            if action and not action.endswith(("/logout", "/account")):
                forms.setdefault(action.split("?")[0], {}).update(fields)
    assert len(forms) >= 3, forms
    junk: list[Any] = ["", "x" * 200_000, "\x00", "nul\x00in the middle", "-1", "1e309",
                       "99999999999999999999999", "Ünïcødé ✓ 🍪 \u202e\u200b", "<b>", "[]"]
    for action, fields in forms.items():
        names = [n for n in fields if n != "csrf_token"]
        attempts: list[dict[str, Any]] = [{}]  # every field missing
        attempts += [{n: value for n in names} for value in junk]
        attempts.append({n: ["a", "b", "c"] for n in names})  # a field sent three times
        for data in attempts:
            r = await client.post(action, data={**data, "csrf_token": token})
            assert r.status_code < 500, (action, data and next(iter(data.values()))[:40],
                                         r.status_code, r.text[-500:])
            # A download (the audit log's CSV) carries what was recorded, as data: the
            # attachment is never rendered (and nosniff keeps it so).
            if r.headers.get("content-disposition", "").startswith("attachment"):
                assert not r.headers["content-type"].startswith("text/html"), action
                continue
            for raw in RAW:
                assert raw not in r.text, f"{action} echoes the payload raw"
        # Still signed in: nothing above ended the session by accident.
        assert (await client.get("/admin/")).status_code == 200


ODD = ["²", "-1", "0", "9" * 30, "x" * 300, "%00", "1.5", "ü", "..", "%2e%2e"]
QUERY_NAMES = ("page", "before", "after", "lang", "a", "b", "from", "to", "q", "sort",
               "status", "purpose", "vendor", "per_page", "bucket", "method", "language",
               "consent_id", "receipt_id", "granted", "site", "staff", "done", "did", "next")


async def test_odd_path_and_query_values_never_get_a_500(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    values = await _hostile_site()
    await _receipt(client, values["key"], values)
    await _signed_in_owner(client)
    for route in _routes(app):
        if "GET" not in (route.methods or ()) or route.path == LOGIN:
            continue
        good = _params(route, values)
        for name in good:
            for odd in ODD:
                path = "/admin" + route.path.replace("{" + name + "}", odd)
                for param, value in good.items():
                    path = path.replace("{" + param + "}", value)
                r = await client.get(path)
                assert r.status_code < 500, (path, r.status_code)
        path = "/admin" + route.url_path_for(route.name, **good)
        for odd in [*ODD, "\x00", "2026-13-45", "-"]:
            r = await client.get(path, params=dict.fromkeys(QUERY_NAMES, odd))
            assert r.status_code < 500, (path, odd, r.status_code)


async def test_a_nul_in_a_path_is_no_such_thing_on_every_route(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    """``%00`` in any path parameter of any route, GET or POST: PostgreSQL refuses NUL in a
    text comparison, so each lookup must refuse it first (a 404 or a 303 to the list)."""
    values = await _hostile_site()
    await _receipt(client, values["key"], values)
    await _signed_in_owner(client)
    token = await token_of(client)
    for route in _routes(app):
        good = _params(route, values)
        for name in good:
            path = "/admin" + route.path.replace("{" + name + "}", "%00")
            for param, value in good.items():
                path = path.replace("{" + param + "}", value)
            for method in sorted((route.methods or set()) - {"HEAD"}):
                r = await client.request(method, path, data={"csrf_token": token})
                assert r.status_code < 500, (method, path, r.status_code)
