"""Exports and retention in the admin (``admin/exports.py``): the streamed CSV and JSON Lines
downloads read back, the role rule (privacy exports, viewers do not), the audit entries, the
retention period and what the next purge takes."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import httpx
import orjson
from starlette.applications import Starlette

from cmp_server._utils import utcnow
from cmp_server.models import AuditEntry, ConsentReceipt, Site
from cmp_server.services.export import CSV_FIELDS, EXPORT_FIELDS
from cmp_server.services.retention import purge_receipts

from ..factories import bulk_receipts, published_site, staff_member
from ._client import sign_in, token_of

REJECT = {"necessary": True, "preferences": False, "statistics": False, "marketing": False}


async def _as(client: httpx.AsyncClient, role: str) -> int:
    member = await staff_member(role)
    await sign_in(client, member.email)
    return member.id


async def _download(
    client: httpx.AsyncClient, key: str, **form: str
) -> httpx.Response:
    token = await token_of(client, f"/admin/sites/{key}/retention")
    return await client.post(f"/admin/sites/{key}/export", data={"csrf_token": token, **form})


async def test_count_first_then_a_csv_read_back(app: Starlette, client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    now = utcnow()
    march = await bulk_receipts(site, 1200, at=now - timedelta(days=40), every=timedelta(seconds=1),
                                page_url="=HYPERLINK(\"https://evil.example\")",
                                user_agent="Mozilla/5.0 (Kursgården; å ä ö)")
    await bulk_receipts(site, 5, at=now)  # outside the range
    staff_id = await _as(client, "privacy")
    day = (now - timedelta(days=40)).date()
    params = {"from": (day - timedelta(days=1)).isoformat(), "to": day.isoformat(),
              "preview": "1"}
    form_page = await client.get(f"/admin/sites/{site.key}/export", params=params)
    assert form_page.status_code == 200 and "1,200 receipts match" in form_page.text
    r = await _download(client, site.key, format="csv", **{k: v for k, v in params.items()
                                                          if k != "preview"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(rf'attachment; filename="receipts-{site.key}-\d{{8}}T\d{{6}}Z\.csv"',
                        r.headers["content-disposition"])
    assert r.content.startswith(b"\xef\xbb\xbf")  # for spreadsheets
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_FIELDS
    assert {row["receipt_id"] for row in rows} == {str(m) for m in march}
    assert all(row["page_url"].startswith("'=HYPERLINK") for row in rows)
    assert rows[0]["user_agent"] == "Mozilla/5.0 (Kursgården; å ä ö)"
    assert orjson.loads(rows[0]["choices"])["necessary"] is True
    # Oldest first.
    assert [row["recorded_at"] for row in rows] == sorted(row["recorded_at"] for row in rows)
    entry = await AuditEntry.get(action="receipts.export")
    assert entry.staff_id == staff_id and entry.site_id == site.id  # type: ignore[attr-defined]
    assert entry.after is not None and entry.after["format"] == "csv"
    assert entry.after["filter"]["start"].startswith((day - timedelta(days=1)).isoformat())


async def test_json_lines_with_a_filter_read_back(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    refused = await bulk_receipts(site, 7, method="reject_all", choices=REJECT, language="sv")
    await bulk_receipts(site, 9)
    await _as(client, "privacy")
    r = await _download(client, site.key, format="jsonl", method="reject_all",
                        purpose="marketing", decision="refused", language="sv")
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
    lines = [orjson.loads(line) for line in r.content.splitlines()]
    assert {line["receipt_id"] for line in lines} == {str(x) for x in refused}
    assert all(set(line) == set(EXPORT_FIELDS) and line["site"] == site.key for line in lines)
    assert all(line["choices"]["marketing"] is False for line in lines)
    entry = await AuditEntry.get(action="receipts.export")
    assert entry.after == {"format": "jsonl", "filter": {
        "method": "reject_all", "language": "sv", "purpose": "marketing", "granted": False,
    }}


async def test_a_viewer_may_not_export(app: Starlette, client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    await bulk_receipts(site, 3)
    await _as(client, "viewer")
    assert (await client.get(f"/admin/sites/{site.key}/export")).status_code == 403
    r = await _download(client, site.key, format="csv")
    assert r.status_code == 403 and "needs the privacy role" in r.text
    assert not await AuditEntry.exists(action="receipts.export")
    log = await client.get(f"/admin/sites/{site.key}/consents")
    assert log.status_code == 200 and "Export these" not in log.text


async def test_bad_export_forms_get_errors_beside_the_fields(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await _as(client, "privacy")
    for form, field in [
        ({"format": "xlsx"}, "format"),
        ({"format": "csv", "from": "yesterday"}, "from"),
        ({"format": "csv", "to": "2026-13-01"}, "to"),
        ({"format": "csv", "consent_id": "x" * 5000}, "consent_id"),
        ({"format": "csv", "method": "accept_all\x00"}, "method"),
        ({}, "format"),
    ]:
        r = await _download(client, site.key, **form)
        assert r.status_code == 422, form
        assert f'id="e-{field}"' in r.text, form
    r = await client.get(f"/admin/sites/{site.key}/export",
                         params={"from": "2026-01-02", "to": "2026-01-01", "preview": "1"})
    assert r.status_code == 422 and 'id="e-to"' in r.text
    assert not await AuditEntry.exists(action="receipts.export")


async def test_retention_shown_to_everyone_changed_by_privacy(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await _as(client, "viewer")
    page = await client.get(f"/admin/sites/{site.key}/retention")
    assert page.status_code == 200 and "kept 1,095 days" in page.text
    assert 'name="days"' not in page.text
    token = await token_of(client, f"/admin/sites/{site.key}/retention")
    r = await client.post(f"/admin/sites/{site.key}/retention",
                          data={"csrf_token": token, "days": "400"})
    assert r.status_code == 403
    client.cookies.clear()
    staff_id = await _as(client, "privacy")
    token = await token_of(client, f"/admin/sites/{site.key}/retention")
    r = await client.post(f"/admin/sites/{site.key}/retention",
                          data={"csrf_token": token, "days": "1500"})
    assert r.status_code == 303
    assert (await Site.get(id=site.id)).receipt_retention_days == 1500
    entry = await AuditEntry.filter(site_id=site.id).order_by("-id").first()
    assert entry is not None and entry.staff_id == staff_id
    assert entry.before == {"receipt_retention_days": 1095}
    assert entry.after == {"receipt_retention_days": 1500}


async def test_retention_errors_beside_the_field(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await _as(client, "privacy")
    token = await token_of(client, f"/admin/sites/{site.key}/retention")
    for days, message in [
        ("", "whole number"), ("ten", "whole number"), ("0", "Give 1 or more."),
        ("99999999999999999999", "or less."), ("30", "consent lifetime"),
        ("1\x00", "NUL"),
    ]:
        r = await client.post(f"/admin/sites/{site.key}/retention",
                              data={"csrf_token": token, "days": days})
        assert r.status_code == 422, days
        error = re.search(r'id="e-days">([^<]*)<', r.text)
        assert error is not None and message in error.group(1), (days, r.text[-500:])
    assert (await Site.get(id=site.id)).receipt_retention_days == 1095


async def test_what_is_about_to_go_can_be_exported_then_the_purge_is_logged(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    now = utcnow()
    old = await bulk_receipts(site, 4, at=now - timedelta(days=300))
    soon = await bulk_receipts(site, 2, at=now - timedelta(days=197))
    await bulk_receipts(site, 3, at=now - timedelta(days=10))
    await _as(client, "privacy")
    path = f"/admin/sites/{site.key}/retention"
    # Shortening so that receipts go asks first, with the count and a link to export them.
    token = await token_of(client, path)
    r = await client.post(path, data={"csrf_token": token, "days": "200"})
    assert r.status_code == 200 and "Shorten to 200 days?" in r.text
    assert "delete <strong>4</strong> receipts" in r.text
    assert (await Site.get(id=site.id)).receipt_retention_days == 1095
    r = await client.post(path, data={"csrf_token": token, "days": "200", "confirm": "1"})
    assert r.status_code == 303
    page = await client.get(path)
    assert "Due now (the next purge deletes them): <strong>4</strong>" in page.text
    assert "Gone within 7 days" in page.text and "<strong>6</strong>" in page.text
    link = re.search(r'href="([^"]+)">Export what goes within 7 days', page.text)
    assert link is not None
    counted = await client.get(link.group(1).replace("&amp;", "&"))
    assert "6 receipts match" in counted.text
    to = re.search(r"to=(\d{4}-\d{2}-\d{2})", link.group(1))
    assert to is not None
    r = await _download(client, site.key, format="jsonl", to=to.group(1))
    exported = {orjson.loads(line)["receipt_id"] for line in r.content.splitlines()}
    assert exported == {str(x) for x in old + soon}
    assert "No purge has run for this site yet." in page.text
    await purge_receipts(trigger="schedule")
    assert await ConsentReceipt.filter(site_id=site.id).count() == 5
    page = await client.get(path)
    assert "the server, on schedule" in page.text
    row = re.search(r"<td>4</td><td>the server, on schedule</td>", page.text)
    assert row is not None
