"""The consent log pages (``admin/consents.py``): search, one receipt as proof, a visitor's
history and its download."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from cmp_server._utils import utcnow
from cmp_server.models import AuditEntry, ConsentReceipt
from cmp_server.services import publishing, sites

from ..factories import bulk_receipts, published_site, send_receipt, staff_member
from ._client import sign_in, token_of

REJECT = {"necessary": True, "preferences": False, "statistics": False, "marketing": False}


async def _signed_in(client: httpx.AsyncClient, role: str) -> None:
    member = await staff_member(role)
    assert (await sign_in(client, member.email)).status_code == 303


async def test_find_a_visitor_by_consent_id_and_open_a_receipt(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, version = await published_site()
    visitor = str(uuid.uuid4())
    first = await send_receipt(client, site.key, consent_id=visitor, language="sv")
    second = await send_receipt(client, site.key, consent_id=visitor, language="sv",
                                method="reject_all", choices=REJECT)
    other = await send_receipt(client, site.key)
    await _signed_in(client, "viewer")
    page = await client.get(f"/admin/sites/{site.key}/consents", params={"consent_id": visitor})
    assert page.status_code == 200
    assert first["receipt_id"] in page.text and second["receipt_id"] in page.text
    assert other["receipt_id"] not in page.text
    # Newest first.
    assert page.text.index(second["receipt_id"]) < page.text.index(first["receipt_id"])
    link = f'/admin/sites/{site.key}/consents/{first["receipt_id"]}'
    assert f'href="{link}"' in page.text
    receipt = await client.get(link)
    assert receipt.status_code == 200
    text = receipt.text
    assert "Verifies" in text and "Texts hash matches" in text
    stored = await ConsentReceipt.get(receipt_id=first["receipt_id"])
    for value in (stored.record_hash, stored.texts_hash, stored.ip_truncated, "sv",
                  "https://www.shop.example/kurser?x=1"):
        assert value and value in text, value
    # The chain: nothing before the first, the second after it.
    assert "the visitor's first receipt" in text
    assert f'/admin/sites/{site.key}/consents/{second["receipt_id"]}' in text
    # The Swedish texts of version 1, as the visitor saw them.
    config = publishing.parse_config(version)
    shown = publishing.texts_for_language(config, "sv")
    assert shown["texts"]["title"] in text and shown["texts"]["accept_all"] in text
    assert all(p["name"] in text for p in shown["purposes"])


async def test_the_texts_shown_are_the_stored_versions_not_the_draft(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    sent = await send_receipt(client, site.key, language="en")
    await sites.update_site(site, texts={"en": {"title": "A draft nobody has seen"}})
    await _signed_in(client, "viewer")
    page = await client.get(f"/admin/sites/{site.key}/consents/{sent['receipt_id']}")
    assert "A draft nobody has seen" not in page.text
    assert "Your choice about cookies" in page.text


async def test_search_filters_and_pages(app: Starlette, client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    now = utcnow()
    await bulk_receipts(site, 60, at=now - timedelta(days=2), every=timedelta(seconds=1))
    refused = await bulk_receipts(site, 3, at=now - timedelta(days=10), method="reject_all",
                                  choices=REJECT, language="da")
    await _signed_in(client, "viewer")
    base = f"/admin/sites/{site.key}/consents"
    first = await client.get(base)
    assert first.status_code == 200 and first.text.count('class="uuid"') == 2 * 50
    older = re.search(r'href="([^"]+after=[^"]+)">Older receipts', first.text)
    assert older is not None
    second = await client.get(older.group(1).replace("&amp;", "&"))
    assert second.text.count('class="uuid"') == 2 * 13 and "Older receipts" not in second.text
    assert "Newest" in second.text
    day = (now - timedelta(days=10)).date().isoformat()
    for params in (
        {"method": "reject_all"},
        {"language": "da"},
        {"purpose": "marketing", "decision": "refused", "from": day, "to": day},
    ):
        page = await client.get(base, params=params)
        assert page.status_code == 200, params
        found = {m for m in re.findall(r"consents/([0-9a-f-]{36})", page.text)}
        assert found == {str(r) for r in refused}, params
    none = await client.get(base, params={"method": "withdraw"})
    assert "No receipts match." in none.text


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"consent_id": "not-a-uuid"}, "consent_id"),
        ({"receipt_id": "1234"}, "receipt_id"),
        ({"consent_id": "\x00" + str(uuid.uuid4())}, "consent_id"),
        ({"from": "2026-02-30"}, "from"),
        ({"from": "1700000000"}, "from"),
        ({"to": "26-01-01"}, "to"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "to"),
        ({"to": "0001-01-01"}, "to"),
        ({"method": "maybe"}, "method"),
        ({"language": "sv" * 50}, "language"),
        ({"purpose": "marketing"}, "decision"),
        ({"decision": "granted"}, "decision"),
        ({"purpose": "x" * 10_000, "decision": "granted"}, "purpose"),
        ({"purpose": "mårketing", "decision": "granted"}, "purpose"),
    ],
)
async def test_bad_filters_get_an_error_beside_the_field(
    app: Starlette, client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    site, _ = await published_site()
    await _signed_in(client, "viewer")
    r = await client.get(f"/admin/sites/{site.key}/consents", params=params)
    assert r.status_code == 422, (params, r.status_code)
    assert f'id="e-{field}"' in r.text, params


async def test_a_bad_page_position_is_an_error_not_a_crash(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await _signed_in(client, "viewer")
    for after in ("x", "1.2.3", "9" * 40 + ".1", "\x00"):
        r = await client.get(f"/admin/sites/{site.key}/consents", params={"after": after})
        assert r.status_code == 422 and "not a page position" in r.text, after


async def test_receipts_and_visitors_of_another_site_are_not_found(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    other, _ = await published_site("Other")
    theirs = await send_receipt(client, other.key)
    await _signed_in(client, "viewer")
    for path in (
        f"/admin/sites/{site.key}/consents/{theirs['receipt_id']}",
        f"/admin/sites/{site.key}/consents/not-a-receipt",
        f"/admin/sites/{site.key}/visitors/{theirs['consent_id']}",
        f"/admin/sites/{site.key}/visitors/%00",
        "/admin/sites/nosuchsite/consents",
    ):
        r = await client.get(path)
        assert r.status_code == 404, path


async def test_a_visitors_history_and_its_download(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    visitor = str(uuid.uuid4())
    sent = [
        await send_receipt(client, site.key, consent_id=visitor, language="da"),
        await send_receipt(client, site.key, consent_id=visitor, language="da",
                           method="withdraw", choices=REJECT),
    ]
    privacy = await staff_member("privacy")
    await sign_in(client, privacy.email)
    path = f"/admin/sites/{site.key}/visitors/{visitor}"
    page = await client.get(path)
    assert page.status_code == 200
    assert "Every receipt verifies" in page.text
    assert all(s["receipt_id"] in page.text for s in sent)
    assert "Download as JSON" in page.text
    download = await client.post(f"{path}/json", data={"csrf_token": await token_of(client, path)})
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/json"
    assert f'filename="consent-{visitor}.json"' in download.headers["content-disposition"]
    document = orjson.loads(download.content)
    assert document["consent_id"] == visitor and document["site"] == site.key
    assert [r["receipt_id"] for r in document["receipts"]] == [s["receipt_id"] for s in sent]
    assert [r["method"] for r in document["receipts"]] == ["custom", "withdraw"]
    assert all(r["verification"] == "verified" and r["texts_hash_matches"]
               for r in document["receipts"])
    [shown] = document["texts_shown"]
    assert (shown["config_version"], shown["language"]) == (1, "da")
    assert shown["texts_hash"] == document["receipts"][0]["texts_hash"]
    assert shown["texts"]["texts"]["accept_all"]
    entry = await AuditEntry.get(action="visitor.export")
    assert entry.staff_id == privacy.id and entry.object_id == visitor
    assert entry.after == {"receipts": 2}


async def test_a_viewer_reads_the_history_but_does_not_download_it(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    sent = await send_receipt(client, site.key)
    await _signed_in(client, "viewer")
    path = f"/admin/sites/{site.key}/visitors/{sent['consent_id']}"
    page = await client.get(path)
    assert page.status_code == 200 and "Download as JSON" not in page.text
    r = await client.post(f"{path}/json", data={"csrf_token": await token_of(client, path)})
    assert r.status_code == 403
    assert not await AuditEntry.exists(action="visitor.export")


async def test_what_visitors_sent_is_shown_as_text(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    sent = await send_receipt(
        client, site.key, page_url='https://www.shop.example/?q=<script>window.pwned=1</script>'
    )
    await _signed_in(client, "viewer")
    page = await client.get(f"/admin/sites/{site.key}/consents/{sent['receipt_id']}")
    assert "<script>window.pwned" not in page.text
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in page.text


async def test_a_receipt_that_does_not_verify_says_so(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    [forged] = await bulk_receipts(site, 1)
    await _signed_in(client, "viewer")
    page = await client.get(f"/admin/sites/{site.key}/consents/{forged}")
    assert page.status_code == 200
    assert "Altered" in page.text and "Texts hash differs" in page.text


async def test_the_receipt_id_the_table_shows_finds_the_receipt(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    """The table shows a receipt id's first 8 characters and "…": pasted into the search,
    that finds the receipt (it was a 422, "Input should be a valid UUID")."""
    site, _ = await published_site()
    body = await send_receipt(client, site.key)
    await send_receipt(client, site.key)
    await _signed_in(client, "viewer")
    page = await client.get(f"/admin/sites/{site.key}/consents")
    shown = re.findall(r'class="uuid" aria-label="[0-9a-f-]{36}" title="[^"]*">([^<]*)</a>',
                       page.text)
    wanted = body["receipt_id"][:8] + "…"
    assert wanted in shown and len(shown) == 2
    for typed in (wanted, body["receipt_id"][:8], body["receipt_id"][:13].upper(),
                  body["receipt_id"], f"  {body['receipt_id'][:10]}  "):
        r = await client.get(f"/admin/sites/{site.key}/consents",
                             params={"receipt_id": typed})
        assert r.status_code == 200, (typed, r.text[-400:])
        assert re.findall(r'aria-label="([0-9a-f-]{36})" title=', r.text) == [
            body["receipt_id"]], typed
    for typed in ("1234567", "zzzzzzzz", "1234-", "0" * 33):
        r = await client.get(f"/admin/sites/{site.key}/consents",
                             params={"receipt_id": typed})
        assert r.status_code == 422, typed
        error = re.search(r'id="e-receipt_id">([^<]*)<', r.text)
        assert error is not None and "first 8 characters" in error.group(1), typed
        assert "UUID" not in r.text and "should be" not in r.text


async def test_a_refused_role_says_so_in_its_heading(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await _signed_in(client, "viewer")
    r = await client.get("/admin/staff")
    assert r.status_code == 403
    assert "<h1>Not allowed with your role</h1>" in r.text
    assert "needs the owner role" in r.text and "in the way" not in r.text
    gone = await client.get(f"/admin/sites/{site.key}/consents/{uuid.uuid4()}")
    assert gone.status_code == 404 and "<h1>Not found</h1>" in gone.text
