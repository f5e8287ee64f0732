"""Sites in the admin (``admin/sites.py``): create, edit every setting, the install snippet;
bad values come back beside their field and change nothing."""

from __future__ import annotations

import html
from typing import Any

import httpx
import pytest
from markupsafe import escape
from starlette.applications import Starlette

from cmp_server.models import AuditEntry
from cmp_server.services import sites

from ..factories import staff_member
from ._client import sign_in, token_of


async def _owner(client: httpx.AsyncClient) -> str:
    owner = await staff_member("owner")
    await sign_in(client, owner.email)
    return await token_of(client)


def _form(site: Any, token: str, **changes: Any) -> dict[str, Any]:
    """The settings form as the page sends it, with ``changes``."""
    form: dict[str, Any] = {
        "csrf_token": token,
        "name": site.name,
        "domains": "\n".join(site.domains),
        "languages": ", ".join(site.languages),
        "default_language": site.default_language,
        "policy_url": site.policy_url or "",
        "cookie_domain": site.cookie_domain or "",
        "consent_lifetime_days": str(site.consent_lifetime_days),
        "receipt_retention_days": str(site.receipt_retention_days),
        "gpc_honour": "on",
        "gpc_purposes": ["marketing"],
        "consent_mode_enabled": "on",
        "cm_analytics_storage": ["statistics"],
        "cm_ad_storage": ["marketing"],
        "wait_for_update": "500",
        "region": "",
        "ads_data_redaction": "on",
    }
    form.update(changes)
    return form


async def test_an_owner_edits_every_setting_and_the_audit_log_has_before_and_after(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site = await sites.create_site("Kursgården", ["kursgarden.example"], force=True)
    token = await _owner(client)
    page = await client.get(f"/admin/sites/{site.key}")
    assert page.status_code == 200
    # The install snippet, ready to copy, with the public base URL.
    base = app.state.settings.public_base_url.rstrip("/")
    assert str(escape(f'<script src="{base}/v1/sites/{site.key}/cmp.js"></script>')) in page.text
    r = await client.post(f"/admin/sites/{site.key}", data=_form(
        site, token, name="Kursgården Syd", domains="kursgarden.example\nwww.kursgården.se",
        languages="sv, da, en", default_language="sv", policy_url="/cookies",
        cookie_domain=".kursgarden.example", consent_lifetime_days="365",
        receipt_retention_days="730", gpc_purposes=["marketing", "statistics"],
        cm_analytics_storage=["statistics", "preferences"], region="se, DK",
    ))
    assert r.status_code == 303, r.text
    assert r.headers["location"].endswith("?saved=1")
    saved = await sites.get_site(site.key)
    assert saved.name == "Kursgården Syd"
    assert saved.domains == ["kursgarden.example", "www.xn--kursgrden-92a.se"]
    assert (saved.languages, saved.default_language) == (["sv", "da", "en"], "sv")
    assert (saved.policy_url, saved.cookie_domain) == ("/cookies", ".kursgarden.example")
    assert (saved.consent_lifetime_days, saved.receipt_retention_days) == (365, 730)
    assert saved.options["gpc"] == {"honour": True, "purposes": ["marketing", "statistics"]}
    mode = saved.options["consent_mode"]
    assert mode["map"]["analytics_storage"] == ["statistics", "preferences"]
    assert mode["map"]["security_storage"] == []
    assert mode["region"] == ["SE", "DK"]
    assert mode["url_passthrough"] is False
    entry = await AuditEntry.get(action="site.update")
    assert entry.before is not None and entry.after is not None
    assert (entry.before["name"], entry.after["name"]) == ("Kursgården", "Kursgården Syd")
    assert entry.after["consent_lifetime_days"] == 365
    assert "texts" not in entry.after
    shown = await client.get(r.headers["location"])
    assert "Saved." in shown.text and "Kursgården Syd" in shown.text


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"policy_url": "javascript:alert(1)"}, "policy_url", "must be an http:// or https://"),
        ({"policy_url": "data:text/html,hi"}, "policy_url", "must be an http:// or https://"),
        ({"domains": "https://shop.example/path"}, "domains", "is not a domain name"),
        ({"domains": ""}, "domains", "Give at least one."),
        ({"languages": "svenska"}, "languages", "not a language tag"),
        ({"default_language": "fi"}, "default_language", "must be one of the site"),
        ({"consent_lifetime_days": "400"}, "consent_lifetime_days", "Give 395 or less."),
        ({"consent_lifetime_days": "ten"}, "consent_lifetime_days", "Give a whole number"),
        ({"consent_lifetime_days": "9" * 400}, "consent_lifetime_days", "or less."),
        ({"receipt_retention_days": "0"}, "receipt_retention_days", "or more."),
        ({"name": ""}, "name", "Fill this in."),
        ({"name": "x" * 5000}, "name", "at most 200"),
        ({"name": "Kurs\x00gården"}, "name", "NUL"),
        ({"name": "Kurs\ngården"}, "name", "one line"),
        ({"cookie_domain": "10.0.0.1"}, "cookie_domain", "not an IP address"),
        ({"gpc_purposes": ["nonexistent"]}, "options", "unknown purposes"),
        ({"cm_ad_storage": ["<script>"]}, "options", "unknown purposes: <script>"),
        ({"wait_for_update": "-5"}, "wait_for_update", "Give 0 or more."),
    ],
)
async def test_a_bad_value_comes_back_beside_its_field_and_nothing_changes(
    app: Starlette, client: httpx.AsyncClient, changes: dict[str, Any], field: str, message: str
) -> None:
    site = await sites.create_site("Kurs", ["kurs.example"], force=True)
    token = await _owner(client)
    r = await client.post(f"/admin/sites/{site.key}", data=_form(site, token, **changes))
    assert r.status_code == 422, r.text
    assert message in html.unescape(r.text)
    if field != "options":
        assert f'id="e-{field}"' in r.text  # the error is beside its own field
    assert "The changes were not saved" in r.text
    stored = await sites.get_site(site.key)
    assert (stored.name, stored.domains, stored.policy_url) == ("Kurs", ["kurs.example"], None)
    assert not await AuditEntry.filter(action="site.update").exists()


async def test_a_domain_of_another_site_is_refused_unless_shared_on_purpose(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await sites.create_site("First", ["shared.example"], force=True)
    site = await sites.create_site("Second", ["second.example"], force=True)
    token = await _owner(client)
    r = await client.post(f"/admin/sites/{site.key}", data=_form(
        site, token, domains="second.example\nshared.example"))
    assert r.status_code == 409
    assert "another site already has shared.example" in r.text
    assert 'name="force"' in r.text  # offered only now
    r = await client.post(f"/admin/sites/{site.key}", data=_form(
        site, token, domains="second.example\nshared.example", force="on"))
    assert r.status_code == 303
    assert (await sites.get_site(site.key)).domains == ["second.example", "shared.example"]


async def test_viewers_and_privacy_staff_read_settings_but_only_owners_change_them(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site = await sites.create_site("Kurs", ["kurs.example"], force=True)
    for role in ("viewer", "privacy"):
        member = await staff_member(role, f"{role}@kurs.example")
        client.cookies.clear()
        await sign_in(client, member.email)
        page = await client.get(f"/admin/sites/{site.key}")
        assert page.status_code == 200
        assert "Only owners change" in page.text and "<fieldset disabled>" in page.text
        token = await token_of(client)
        r = await client.post(f"/admin/sites/{site.key}", data=_form(site, token, name="Other"))
        assert r.status_code == 403
        new = await client.post("/admin/sites/new", data={"csrf_token": token, "name": "X",
                                                          "domains": "x.example",
                                                          "languages": "sv"})
        assert new.status_code == 403
    assert (await sites.get_site(site.key)).name == "Kurs"
    assert len(await sites.list_sites()) == 1


async def test_an_owner_creates_a_site(app: Starlette, client: httpx.AsyncClient) -> None:
    token = await _owner(client)
    form = await client.get("/admin/sites/new")
    assert form.status_code == 200
    bad = await client.post("/admin/sites/new", data={
        "csrf_token": token, "name": "Fjord", "domains": "fjord.example",
        "languages": "da, en", "default_language": "sv", "policy_url": "javascript:x",
    })
    assert bad.status_code == 422
    assert 'id="e-policy_url"' in bad.text
    assert not await sites.list_sites()
    r = await client.post("/admin/sites/new", data={
        "csrf_token": token, "name": "Fjord Kurser", "domains": "fjord.example",
        "languages": "da, en", "default_language": "da", "receipt_retention_days": "400",
    })
    assert r.status_code == 303
    (site,) = await sites.list_sites()
    assert r.headers["location"] == f"/admin/sites/{site.key}"
    assert (site.name, site.languages, site.receipt_retention_days) == (
        "Fjord Kurser", ["da", "en"], 400)
    assert await AuditEntry.filter(action="site.create", object_id=site.key).exists()


async def test_hostile_values_render_as_text(app: Starlette, client: httpx.AsyncClient) -> None:
    payload = '"><script>window.pwned=1</script>'
    site = await sites.create_site(payload, ["kurs.example"], force=True)
    await _owner(client)
    for path in ("/admin/", f"/admin/sites/{site.key}"):
        page = await client.get(path)
        assert "<script>window.pwned" not in page.text
        assert str(escape(payload)) in page.text
