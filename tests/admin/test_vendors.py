"""Vendors in the admin (``admin/vendors.py``): the list, adding and editing one (transfer
outside the EU/EEA yes / no / not known, and its basis); roles, a non-http(s) policy URL and
other bad input refused beside the field with a 422, hostile names inert."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from markupsafe import escape
from starlette.applications import Starlette

from cmp_server.models import AuditEntry, Vendor
from cmp_server.services import inventory

from ..factories import published_site, staff_member
from ._client import sign_in, token_of

PAYLOAD = '"><script>window.pwned=1</script><img src=x onerror=alert(1)>'


async def _as(client: httpx.AsyncClient, role: str) -> str:
    member = await staff_member(role)
    await sign_in(client, member.email)
    return await token_of(client)


def _form(token: str, **changes: Any) -> dict[str, Any]:
    form = {"csrf_token": token, "name": "Hotjar", "key": "", "country": "MT",
            "privacy_policy_url": "https://www.hotjar.com/legal/policies/privacy/",
            "transfers": "yes", "transfer_basis": "Standard contractual clauses",
            "description_en": "Heatmaps and recordings of visits."}
    form.update(changes)
    return form


async def test_a_vendor_is_added_edited_and_audited(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    token = await _as(client, "privacy")
    r = await client.post(f"/admin/sites/{site.key}/vendors/new", data=_form(token))
    assert r.status_code == 303
    vendor = await Vendor.get(site=site, key="hotjar")
    assert (vendor.country, vendor.transfers_outside_eea, vendor.transfer_basis) == (
        "MT", True, "Standard contractual clauses")
    path = f"/admin/sites/{site.key}/vendors/{vendor.id}"
    assert r.headers["location"] == path + "?saved=1"

    r = await client.post(path, data=_form(token, name="Hotjar Ltd", transfers="unknown",
                                           key="renamed-key"))
    assert r.status_code == 303
    await vendor.refresh_from_db()
    assert (vendor.name, vendor.key, vendor.transfers_outside_eea) == (
        "Hotjar Ltd", "hotjar", None)  # the key never changes
    assert vendor.transfer_basis is None  # no basis kept for a transfer not known
    entry = await AuditEntry.get(action="vendor.update", object_id=str(vendor.id))
    assert entry.before is not None and entry.after is not None
    assert (entry.before["transfers_outside_eea"], entry.after["transfers_outside_eea"]) == (
        True, None)
    page = await client.get(path)
    assert page.status_code == 200 and "Hotjar Ltd" in page.text
    assert "transfers_outside_eea" in page.text  # the change history
    listed = await client.get(f"/admin/sites/{site.key}/vendors")
    assert listed.status_code == 200 and "Hotjar Ltd" in listed.text and "Google" in listed.text
    assert "not known" in listed.text


@pytest.mark.parametrize(("changes", "field"), [
    ({"name": ""}, "name"),
    ({"name": "a\x00b"}, "name"),
    ({"name": "x" * 5000}, "name"),
    ({"country": "Sweden"}, "country"),
    ({"country": "\x00\x00"}, "country"),
    ({"privacy_policy_url": "javascript:alert(1)"}, "privacy_policy_url"),
    ({"privacy_policy_url": "JaVaScRiPt:alert(1)"}, "privacy_policy_url"),
    ({"privacy_policy_url": "data:text/html,<script>x</script>"}, "privacy_policy_url"),
    ({"privacy_policy_url": "ftp://example.org/privacy"}, "privacy_policy_url"),
    ({"privacy_policy_url": "https://" + "a" * 3000 + ".example"}, "privacy_policy_url"),
    ({"transfers": "maybe"}, "transfers"),
    ({"transfer_basis": "b" * 300}, "transfer_basis"),
    ({"description_en": "\x00"}, "description"),
    ({"key": "Not a key!"}, "key"),
    ({"key": "google"}, "key"),  # taken
])
async def test_a_bad_vendor_comes_back_beside_its_field_and_saves_nothing(
    app: Starlette, client: httpx.AsyncClient, changes: dict[str, Any], field: str
) -> None:
    site, _ = await published_site()
    token = await _as(client, "privacy")
    r = await client.post(f"/admin/sites/{site.key}/vendors/new", data=_form(token, **changes))
    assert r.status_code in (409, 422), r.text
    assert f'id="e-{field}"' in r.text
    assert await Vendor.filter(site=site).count() == 1
    google = await Vendor.get(site=site, key="google")
    if field != "key":  # an edit has no key to get wrong
        r = await client.post(f"/admin/sites/{site.key}/vendors/{google.id}",
                              data=_form(token, **changes))
        assert r.status_code == 422 and f'id="e-{field}"' in r.text
    await google.refresh_from_db()
    assert google.name == "Google"
    assert not await AuditEntry.filter(object_type="vendor").exists()


async def test_a_missing_form_is_errors_not_a_500(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    token = await _as(client, "privacy")
    r = await client.post(f"/admin/sites/{site.key}/vendors/new", data={"csrf_token": token})
    assert r.status_code == 422 and 'id="e-name"' in r.text


async def test_a_viewer_reads_vendors_but_cannot_change_them(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    google = await Vendor.get(site=site, key="google")
    token = await _as(client, "viewer")
    assert (await client.get(f"/admin/sites/{site.key}/vendors")).status_code == 200
    page = await client.get(f"/admin/sites/{site.key}/vendors/{google.id}")
    assert page.status_code == 200 and "<fieldset disabled>" in page.text
    assert (await client.get(f"/admin/sites/{site.key}/vendors/new")).status_code == 403
    edit = await client.post(f"/admin/sites/{site.key}/vendors/{google.id}",
                             data=_form(token, name="Not Google"))
    new = await client.post(f"/admin/sites/{site.key}/vendors/new", data=_form(token))
    assert (edit.status_code, new.status_code) == (403, 403)
    await google.refresh_from_db()
    assert google.name == "Google" and await Vendor.filter(site=site).count() == 1


@pytest.mark.parametrize("vendor_id", ["x", "987654", "²", "9" * 40])
async def test_an_unknown_vendor_is_a_404(
    app: Starlette, client: httpx.AsyncClient, vendor_id: str
) -> None:
    site, _ = await published_site()
    await _as(client, "viewer")
    assert (await client.get(f"/admin/sites/{site.key}/vendors/{vendor_id}")).status_code == 404


async def test_the_vendor_list_pages_and_searches(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    for i in range(120):
        await inventory.add_vendor(site, key=f"v{i:03d}", name=f"Vendor {i:03d}")
    await _as(client, "viewer")
    first = await client.get(f"/admin/sites/{site.key}/vendors")
    assert "Page 1 of 2" in first.text and "Vendor 098" in first.text
    assert "Vendor 099" not in first.text
    second = await client.get(f"/admin/sites/{site.key}/vendors", params={"page": "2"})
    assert "Vendor 119" in second.text and "Google" not in second.text
    found = await client.get(f"/admin/sites/{site.key}/vendors", params={"q": "oogl"})
    assert "Google" in found.text and "Vendor 001" not in found.text
    bad = await client.get(f"/admin/sites/{site.key}/vendors", params={"q": "\x00"})
    assert bad.status_code == 422 and 'id="e-q"' in bad.text


async def test_a_hostile_vendor_name_renders_inert(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    evil = await inventory.add_vendor(site, key="evil", name=PAYLOAD, transfer_basis=PAYLOAD,
                                      transfers_outside_eea=True,
                                      description={"en": PAYLOAD})
    await _as(client, "privacy")
    for path in ("/vendors", f"/vendors/{evil.id}", "/vendors?q=%22%3E"):
        r = await client.get(f"/admin/sites/{site.key}{path}")
        assert r.status_code == 200, path
        assert "<script>window.pwned" not in r.text and "<img src=x" not in r.text, path
        assert str(escape(PAYLOAD)) in r.text or path.endswith("%3E"), path


async def test_the_policy_url_help_and_the_rule_agree_on_http(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    """http:// policy pages are real on small sites and accepted; the help says so (it said
    https only)."""
    site, _ = await published_site()
    token = await _as(client, "privacy")
    page = await client.get(f"/admin/sites/{site.key}/vendors/new")
    help_text = re.search(r'id="h-privacy_policy_url">([^<]*)<', page.text)
    assert help_text is not None
    assert "http://" in help_text.group(1) and "https://" in help_text.group(1)
    r = await client.post(f"/admin/sites/{site.key}/vendors/new",
                          data=_form(token, privacy_policy_url="http://small.example/privacy"))
    assert r.status_code == 303
    vendor = await Vendor.get(site=site, key="hotjar")
    assert vendor.privacy_policy_url == "http://small.example/privacy"
    settings = await client.get(f"/admin/sites/{site.key}")
    site_help = re.search(r'id="h-policy_url">([^<]*)<', settings.text)
    assert site_help is not None and "http://" in site_help.group(1)
