"""The inventory in the admin (``admin/inventory.py``): the list's filters, sorting and paging
from the query string, bulk actions that keep the filters, one item's page and adding one;
roles, bad input beside its field with a 422, hostile names inert."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from markupsafe import escape
from starlette.applications import Starlette

from cmp_server.models import AuditEntry, InventoryItem, Site
from cmp_server.services import inventory, translations

from ..factories import published_site, staff_member
from ._client import sign_in, token_of

PAYLOAD = '"><script>window.pwned=1</script><img src=x onerror=alert(1)>'


async def _as(client: httpx.AsyncClient, role: str) -> str:
    member = await staff_member(role)
    await sign_in(client, member.email)
    return await token_of(client)


def _rows(page: str) -> list[str]:
    """The item names of a list page, in order."""
    return [escape_back(m) for m in re.findall(
        r'<td class="inv-name"[^>]*>\s*<a [^>]*><code>(.*?)</code>', page)]


def escape_back(text: str) -> str:
    return (text.replace("&lt;", "<").replace("&gt;", ">").replace("&#34;", '"')
            .replace("&#39;", "'").replace("&amp;", "&"))


async def _many(site: Site, n: int) -> list[int]:
    await InventoryItem.bulk_create([
        InventoryItem(site=site, name=f"c{i:04d}", review_status="unreviewed", source="scan",
                      description={})
        for i in range(n)
    ])
    return [int(i) for i in await InventoryItem.filter(
        site=site, name__startswith="c0").order_by("name").values_list("id", flat=True)]


async def test_the_list_filters_sorts_and_pages_from_the_query_string(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await _many(site, 60)
    await _as(client, "viewer")
    base = f"/admin/sites/{site.key}/inventory"
    page = await client.get(base)
    assert page.status_code == 200
    assert _rows(page.text)[:3] == ["_ga", "_ga_", "c0000"] and len(_rows(page.text)) == 50
    assert "1–50 of 63" in page.text and "Page 1 of 2" in page.text
    assert 'name="item"' not in page.text  # a viewer gets no checkboxes, no bulk bar
    second = await client.get(base, params={"page": "2"})
    assert _rows(second.text)[0] == "c0048" and "51–63 of 63" in second.text
    filtered = await client.get(base, params={"status": "unreviewed", "sort": "-name",
                                              "per_page": "25", "q": "c00"})
    assert _rows(filtered.text)[:2] == ["c0059", "c0058"] and "1–25 of 60" in filtered.text
    # The links keep the filters: the next page, and a heading's sort.
    nxt = re.search(r'href="\?([^"]+)" rel="next"', filtered.text)
    assert nxt is not None
    assert parse_qs(escape_back(nxt.group(1))) == {
        "status": ["unreviewed"], "q": ["c00"], "sort": ["-name"], "page": ["2"],
        "per_page": ["25"]}
    stats = await client.get(base, params={"purpose": "statistics"})
    assert stats.status_code == 200
    assert _rows(stats.text) == ["_ga", "_ga_"]
    assert _rows((await client.get(base, params={"vendor": "none", "q": "cmp"})).text) == [
        "cmp_consent"]


@pytest.mark.parametrize("params", [
    {"status": "deleted"}, {"sort": "password"}, {"page": "x"}, {"page": "²"},
    {"per_page": "100000"}, {"purpose": "nope"}, {"vendor": "nope"}, {"q": "a\x00b"},
    {"q": "x" * 300}, {"kind": "<script>"},
])
async def test_a_bad_filter_is_named_beside_its_field_and_the_list_still_answers(
    app: Starlette, client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    site, _ = await published_site()
    await _as(client, "viewer")
    r = await client.get(f"/admin/sites/{site.key}/inventory", params=params)
    assert r.status_code == 422
    name = next(iter(params))
    assert f'id="e-{name}"' in r.text
    assert _rows(r.text) == ["_ga", "_ga_", "cmp_consent"]  # the rest of the query still applies


async def test_a_bulk_action_maps_the_ticked_rows_and_keeps_the_filters(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    ids = await _many(site, 5)
    token = await _as(client, "privacy")
    base = f"/admin/sites/{site.key}/inventory"
    page = await client.get(base, params={"status": "unreviewed", "sort": "-name"})
    back = re.search(r'name="back" value="([^"]*)"', page.text)
    assert back is not None and escape_back(back.group(1)) == "status=unreviewed&sort=-name"
    r = await client.post(base + "/bulk", data={
        "csrf_token": token, "back": escape_back(back.group(1)), "action": "set_purpose",
        "to_purpose": "marketing", "to_vendor": "", "item": [str(i) for i in ids[:2]],
    })
    assert r.status_code == 303
    target = urlsplit(r.headers["location"])
    assert target.path == base
    assert parse_qs(target.query) == {"status": ["unreviewed"], "sort": ["-name"],
                                      "done": ["2"], "did": ["set_purpose"]}
    after = await client.get(r.headers["location"])
    assert "2 items: purpose set, and marked reviewed." in after.text
    assert _rows(after.text) == ["c0004", "c0003", "c0002"]  # the two mapped are reviewed now
    mapped = await InventoryItem.filter(id__in=ids[:2]).values_list("purpose__key",
                                                                     "review_status")
    assert sorted(mapped) == [("marketing", "reviewed"), ("marketing", "reviewed")]
    assert await AuditEntry.filter(action="inventory.bulk_set_purpose").count() == 2

    gone = await client.post(base + "/bulk", data={
        "csrf_token": token, "back": "", "action": "mark_gone", "item": [str(ids[4])]})
    assert gone.status_code == 303 and urlsplit(gone.headers["location"]).query == (
        "done=1&did=mark_gone")
    assert (await InventoryItem.get(id=ids[4])).review_status == "gone"


@pytest.mark.parametrize(("form", "field"), [
    ({"action": "set_purpose", "to_purpose": "marketing"}, "bulk_item"),
    ({"action": "set_purpose", "to_purpose": "marketing", "item": ["x"]}, "bulk_item"),
    ({"action": "set_purpose", "to_purpose": "marketing", "item": ["1\x00"]}, "bulk_item"),
    ({"action": "set_purpose", "to_purpose": "marketing", "item": ["9" * 40]}, "bulk_item"),
    ({"action": "set_purpose", "to_purpose": "marketing", "item": ["1"] * 501}, "bulk_item"),
    ({"action": "drop_table", "item": ["ID"]}, "bulk_action"),
    ({"action": "set_purpose", "to_purpose": "", "item": ["ID"]}, "bulk_to_purpose"),
    ({"action": "set_purpose", "to_purpose": "nope", "item": ["ID"]}, "bulk_to_purpose"),
    ({"action": "set_vendor", "to_vendor": "nope", "item": ["ID"]}, "bulk_to_vendor"),
    ({"action": "mark_gone", "item": ["987654"]}, "bulk_action"),
])
async def test_a_bad_bulk_action_comes_back_with_its_error_and_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, form: dict[str, Any], field: str
) -> None:
    site, _ = await published_site()
    ga = await InventoryItem.get(site=site, name="_ga")
    token = await _as(client, "privacy")
    before = await InventoryItem.filter(site=site).order_by("id").values()
    data = {**form, "csrf_token": token, "back": "sort=-name&q=_",
            "item": [str(ga.id) if i == "ID" else i for i in form.get("item", [])]}
    r = await client.post(f"/admin/sites/{site.key}/inventory/bulk", data=data)
    assert r.status_code == 422
    assert f'id="e-{field}"' in r.text
    assert _rows(r.text) == ["cmp_consent", "_ga_", "_ga"]  # the list as it was filtered
    assert await InventoryItem.filter(site=site).order_by("id").values() == before


async def test_one_item_is_edited_and_the_knowledge_base_stays_beside_it(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    item = await inventory.add_item(site, name="_fbp", review_status="unreviewed")
    token = await _as(client, "privacy")
    path = f"/admin/sites/{site.key}/inventory/{item.id}"
    page = await client.get(path)
    assert page.status_code == 200
    assert "The knowledge base suggested" in page.text and "marketing" in page.text
    r = await client.post(path, data={
        "csrf_token": token, "name": "_fbp", "match": "exact", "kind": "cookie",
        "domain": ".shop.example", "party": "first", "purpose": "marketing",
        "vendor": "google", "duration_days": "90", "description_en": "Ads across sites.",
        "review_status": "reviewed",
    })
    assert r.status_code == 303 and r.headers["location"] == path + "?saved=1"
    saved = await InventoryItem.get(id=item.id).select_related("purpose", "vendor")
    assert saved.purpose is not None and saved.purpose.key == "marketing"
    assert (saved.duration_days, saved.domain, saved.description) == (
        90, ".shop.example", {"en": "Ads across sites."})
    shown = await client.get(path + "?saved=1")
    assert "Saved." in shown.text and "duration_days" in shown.text  # the change history
    entry = await AuditEntry.get(action="inventory.update", object_id=str(item.id))
    assert entry.before is not None and entry.before["purpose"] is None


def _item_form(token: str, **changes: Any) -> dict[str, Any]:
    form = {"csrf_token": token, "name": "session", "match": "exact", "kind": "cookie",
            "domain": "", "party": "first", "purpose": "necessary", "vendor": "",
            "duration_days": "", "description_en": "", "review_status": "reviewed"}
    form.update(changes)
    return form


@pytest.mark.parametrize(("changes", "field"), [
    ({"name": ""}, "name"),
    ({"name": "a\x00b"}, "name"),
    ({"name": "x" * 10_000}, "name"),
    ({"kind": "flash"}, "kind"),
    ({"match": "regex"}, "match"),
    ({"party": "fourth"}, "party"),
    ({"purpose": "nope"}, "purpose"),
    ({"vendor": "<b>"}, "vendor"),
    ({"duration_days": "soon"}, "duration_days"),
    ({"duration_days": "-3"}, "duration_days"),
    ({"duration_days": "9" * 30}, "duration_days"),
    ({"duration_days": "1\x00"}, "duration_days"),
    ({"description_en": "\x00"}, "description"),
    ({"description_en": "y" * 5000}, "description"),
    ({"description_<x>": "y"}, "description"),
    ({"review_status": "deleted"}, "review_status"),
    ({"name": "_ga"}, "name"),  # the site has it already
])
async def test_a_bad_item_comes_back_beside_its_field_and_saves_nothing(
    app: Starlette, client: httpx.AsyncClient, changes: dict[str, Any], field: str
) -> None:
    site, _ = await published_site()
    token = await _as(client, "privacy")
    r = await client.post(f"/admin/sites/{site.key}/inventory/new",
                          data=_item_form(token, **changes))
    assert r.status_code in (409, 422), r.text
    assert f'id="e-{field}"' in r.text
    assert "The changes were not saved" in r.text
    assert await InventoryItem.filter(site=site).count() == 3
    assert not await AuditEntry.filter(object_type="inventory_item").exists()


async def test_missing_fields_are_errors_too(app: Starlette, client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    token = await _as(client, "privacy")
    r = await client.post(f"/admin/sites/{site.key}/inventory/new", data={"csrf_token": token})
    assert r.status_code == 422 and 'id="e-name"' in r.text
    ga = await InventoryItem.get(site=site, name="_ga")
    r = await client.post(f"/admin/sites/{site.key}/inventory/{ga.id}",
                          data={"csrf_token": token})
    assert r.status_code == 422 and 'id="e-name"' in r.text
    assert (await InventoryItem.get(id=ga.id)).name == "_ga"


async def test_an_item_is_added_by_hand(app: Starlette, client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    token = await _as(client, "privacy")
    r = await client.post(f"/admin/sites/{site.key}/inventory/new", data=_item_form(
        token, name="größe_🍪", description_en="Remembers the size you chose."))
    assert r.status_code == 303
    item = await InventoryItem.get(site=site, name="größe_🍪")
    assert (item.source, item.review_status) == ("manual", "reviewed")
    assert r.headers["location"].endswith(f"/inventory/{item.id}?saved=1")
    assert await AuditEntry.filter(action="inventory.create", object_id=str(item.id)).exists()


async def test_a_viewer_reads_but_cannot_change(app: Starlette, client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    ga = await InventoryItem.get(site=site, name="_ga")
    token = await _as(client, "viewer")
    page = await client.get(f"/admin/sites/{site.key}/inventory/{ga.id}")
    assert page.status_code == 200 and "<fieldset disabled>" in page.text
    assert (await client.get(f"/admin/sites/{site.key}/inventory/new")).status_code == 403
    edit = await client.post(f"/admin/sites/{site.key}/inventory/{ga.id}",
                             data=_item_form(token, name="renamed"))
    bulk = await client.post(f"/admin/sites/{site.key}/inventory/bulk", data={
        "csrf_token": token, "action": "mark_gone", "item": [str(ga.id)]})
    new = await client.post(f"/admin/sites/{site.key}/inventory/new", data=_item_form(token))
    assert (edit.status_code, bulk.status_code, new.status_code) == (403, 403, 403)
    assert (await InventoryItem.get(id=ga.id)).name == "_ga"
    assert (await InventoryItem.get(id=ga.id)).review_status == "reviewed"
    assert await InventoryItem.filter(site=site).count() == 3


@pytest.mark.parametrize("item_id", ["x", "0", "987654", "1.5", "²", "-1", "9" * 40])
async def test_an_unknown_item_is_a_404(
    app: Starlette, client: httpx.AsyncClient, item_id: str
) -> None:
    site, _ = await published_site()
    await _as(client, "privacy")
    assert (await client.get(f"/admin/sites/{site.key}/inventory/{item_id}")).status_code == 404


async def test_another_sites_item_is_not_found_here(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    other, _ = await published_site("Other", ("other.example",))
    theirs = await InventoryItem.get(site=other, name="_ga")
    token = await _as(client, "privacy")
    assert (await client.get(f"/admin/sites/{site.key}/inventory/{theirs.id}")).status_code \
        == 404
    r = await client.post(f"/admin/sites/{site.key}/inventory/{theirs.id}",
                          data=_item_form(token, name="stolen"))
    assert r.status_code == 404
    assert (await InventoryItem.get(id=theirs.id)).name == "_ga"


async def test_hostile_cookie_and_vendor_names_render_inert(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await inventory.add_vendor(site, key="evil", name=PAYLOAD, transfer_basis=PAYLOAD)
    item = await inventory.add_item(site, name=PAYLOAD, vendor="evil", purpose="statistics",
                                    domain=PAYLOAD, description={"en": PAYLOAD},
                                    review_status="unreviewed")
    await _as(client, "privacy")
    for path in ("/inventory", f"/inventory/{item.id}", "/inventory?q=%3Cscript",
                 "/inventory?vendor=evil", "/inventory/new"):
        r = await client.get(f"/admin/sites/{site.key}{path}")
        assert r.status_code == 200, path
        assert "<script>window.pwned" not in r.text and "<img src=x" not in r.text, path
    listed = await client.get(f"/admin/sites/{site.key}/inventory")
    assert str(escape(PAYLOAD)) in listed.text  # shown, as text
    assert PAYLOAD in _rows(listed.text)


def test_every_field_of_the_query_has_its_parameter() -> None:
    from dataclasses import fields

    from admin.inventory import PARAMS
    from cmp_server.services.inventory import ItemQuery

    assert sorted(PARAMS.values()) == sorted(f.name for f in fields(ItemQuery))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]", "::1",
                                  "shop.example", "www.shop.example", "192.168.1.20"])
async def test_the_sites_own_host_is_never_a_vendor_suggestion(
    app: Starlette, client: httpx.AsyncClient, host: str
) -> None:
    """A scan stored before the site was left out of suggestions kept "127.0.0.1" (or
    "localhost") as the knowledge base's vendor: the item page offered it."""
    site, _ = await published_site()
    row = await InventoryItem.create(
        site=site, name="visit_id", review_status="unreviewed", source="scan", description={},
        suggested_purpose="statistics", suggested_vendor=host, suggested_vendor_name=host)
    await _as(client, "viewer")
    page = await client.get(f"/admin/sites/{site.key}/inventory/{row.id}")
    assert page.status_code == 200
    assert "Knowledge base: statistics" in page.text
    assert f"Knowledge base: {escape(host)}" not in page.text
    listed = await client.get(f"/admin/sites/{site.key}/inventory")
    assert f"KB: {escape(host)}" not in listed.text


async def test_the_item_page_says_per_language_what_the_declaration_will_say(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    """A Swedish and Danish site: a cookie the knowledge base describes is filled in Swedish
    and Danish from it (and said so); one staff described in Swedish only shows their words
    and names Danish and English as missing (issue 19, 6)."""
    from cmp_server.services import publishing, sites
    from scanner.kb import KnowledgeBase

    site = await sites.create_site("Kursgården", ["kursgarden.example"], force=True,
                                   languages=["sv", "da", "en"], default_language="sv")
    kb = translations.kb_texts(translations.kb_match(KnowledgeBase.builtin(), "cookie", "_ga"))
    ga = await inventory.add_item(site, name="_ga", purpose="statistics",
                                  description={"en": kb["en"]})
    own = await inventory.add_item(site, name="kg_session", purpose="necessary",
                                   description={"sv": "Håller dig inloggad <b>hos oss</b>."})
    await _as(client, "viewer")

    def declared(page: str) -> str:
        card = re.search(r'<section class="card declared".*?</section>', page, re.S)
        assert card is not None
        return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", card.group(0))).split())

    text = declared((await client.get(f"/admin/sites/{site.key}/inventory/{ga.id}")).text)
    assert f"Swedish knowledge base {kb['sv']}" in text
    assert f"Danish knowledge base {kb['da']}" in text
    assert f"English knowledge base {kb['en']}" in text and "missing" not in text
    page = (await client.get(f"/admin/sites/{site.key}/inventory/{own.id}")).text
    text = declared(page)
    assert "Swedish your words Håller dig inloggad <b>hos oss</b>." in text
    assert "&lt;b&gt;hos oss" in page  # escaped, as typed
    assert "Danish missing No Danish description" in text
    assert "English missing No English description" in text
    # What the page says is what the published declaration carries.
    config = await publishing.build_config(site, 1)
    cookies = {c.name: c.description for c in config.cookies}
    assert cookies["_ga"] == {"sv": kb["sv"], "da": kb["da"], "en": kb["en"]}
    assert cookies["kg_session"] == {"sv": "Håller dig inloggad <b>hos oss</b>."}
