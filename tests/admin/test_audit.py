"""The audit log (``admin/audit.py``, ``services/audit.py``, ``services/audit_view.py``):
filters, keyset paging, entries field by field in real characters, and the CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import httpx
from starlette.applications import Starlette

from cmp_server.models import AuditEntry
from cmp_server.services import audit, audit_view, sites

from ..factories import staff_member
from ._client import sign_in, token_of


def test_changes_are_field_by_field_in_real_characters() -> None:
    changed = audit_view.changes(
        {"name": "Kursgården", "texts": {"sv": {"title": "Kakor"}}, "on": True},
        {"name": "Kursgården AB", "texts": {"sv": {"title": "Kakor", "body": "x" * 200}},
         "on": True, "domains": ["a.se", "b.se"]},
    )
    assert [(c.field, c.before, c.after) for c in changed] == [
        ("name", "Kursgården", "Kursgården AB"),
        ("texts.sv.body", "—", "x" * 200),
        ("domains", "—", "a.se, b.se"),
    ]
    assert [c.long for c in changed] == [False, True, False]
    created = audit_view.changes(None, {"email": "å@example.org", "rules": [{"a": "ö"}]})
    assert [(c.before, c.after) for c in created] == [("", "å@example.org"), ("", '[{"a":"ö"}]')]
    removed = audit_view.changes({"role": "viewer"}, None)
    assert [(c.before, c.after) for c in removed] == [("viewer", "")]


async def _entries() -> tuple[int, int]:
    owner, other = await staff_member("owner"), await staff_member("privacy")
    site = await sites.create_site("Kursgården", ["kursgarden.example"], force=True)
    old = await AuditEntry.create(staff_id=other.id, actor=other.email, action="site.update",
                                  object_type="site", site_id=site.id,
                                  before={"name": "Kursgarden"}, after={"name": "Kursgården"})
    await AuditEntry.filter(id=old.id).update(at=datetime(2026, 1, 10, 12, tzinfo=UTC))
    await AuditEntry.create(staff_id=owner.id, actor=owner.email, action="staff.role",
                            object_type="staff", before={"role": "viewer"},
                            after={"role": "owner"})
    return owner.id, site.id


async def test_the_filters(app: Starlette, client: httpx.AsyncClient) -> None:
    owner_id, site_id = await _entries()
    found = await audit.entries(audit.AuditFilter(action="site"))
    assert [e.action for e in found] == ["site.update"] or {e.action for e in found} == {
        "site.update", "site.create"}
    assert [e.action for e in await audit.entries(audit.AuditFilter(action="staff.role"))] \
        == ["staff.role"]
    assert not await audit.entries(audit.AuditFilter(action="staff.rol"))
    january = audit.AuditFilter(start=datetime(2026, 1, 10, tzinfo=UTC),
                                end=datetime(2026, 1, 11, tzinfo=UTC))
    assert [e.action for e in await audit.entries(january)] == ["site.update"]
    owner = await staff_member("owner")
    await sign_in(client, owner.email)
    page = await client.get("/admin/audit", params={"site": site_id, "from": "2026-01-10",
                                                    "to": "2026-01-10"})
    assert page.status_code == 200
    assert "Kursgarden" in page.text and "Kursgården" in page.text
    assert "\\u00e5" not in page.text and "&#34;" not in page.text  # no JSON on the page
    assert 'class="action">staff.role' not in page.text
    bad = await client.get("/admin/audit", params={"from": "2026-02-30", "to": "x",
                                                   "site": "-1", "action": "Staff!"})
    assert bad.status_code == 422
    for name in ("from", "to", "site", "action"):
        assert f'id="e-{name}"' in bad.text, name
    backwards = await client.get("/admin/audit", params={"from": "2026-02-02",
                                                         "to": "2026-02-01"})
    assert backwards.status_code == 422
    assert "Give a day on or after the start date." in backwards.text


async def test_keyset_paging(app: Starlette, client: httpx.AsyncClient) -> None:
    owner = await staff_member("owner")
    await AuditEntry.bulk_create([
        AuditEntry(actor="system", action="scan.request", object_type="scan_job",
                   object_id=str(n)) for n in range(120)
    ])
    await sign_in(client, owner.email)
    seen: list[str] = []
    path = "/admin/audit?action=scan"
    for _ in range(5):  # three pages, and no more
        if not path:
            break
        r = await client.get(path)
        assert r.status_code == 200
        seen += [line.split("scan_job ")[1].split("<")[0] for line in r.text.splitlines()
                 if "scan_job " in line]
        older = [line for line in r.text.splitlines() if 'rel="next"' in line]
        path = ("/admin/audit" + older[0].split('rel="next" href="')[1].split('"')[0]
                .replace("&amp;", "&") if older else "")
    assert seen == [str(n) for n in reversed(range(120))]


async def test_the_csv_export_is_audited_and_safe(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    owner = await staff_member("owner")
    await AuditEntry.create(actor="system", action="site.update", object_type="site",
                            before={"name": "=HYPERLINK(\"x\")"}, after={"name": "Kursgården"})
    await sign_in(client, owner.email)
    r = await client.post("/admin/audit", data={"csrf_token": await token_of(client),
                                                "action": "site"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row["action"] for row in rows] == ["site.update"]
    assert rows[0]["changes"] == "name: =HYPERLINK(\"x\") → Kursgården"
    assert rows[0]["before"].startswith("'=") or rows[0]["before"].startswith("{")
    assert all(not v.startswith(("=", "+", "-", "@")) for v in rows[0].values())
    export = await AuditEntry.get(action="audit.export")
    assert export.actor == owner.email and export.after == {"filter": {"action": "site"}}
    viewer = await staff_member("viewer")
    client.cookies.clear()
    await sign_in(client, viewer.email)
    assert (await client.get("/admin/audit")).status_code == 403
    assert (await client.post("/admin/audit", data={
        "csrf_token": await token_of(client)})).status_code == 403


async def test_an_entry_at_the_end_of_the_day_is_in_to(app: Starlette) -> None:
    entry = await AuditEntry.create(actor="system", action="site.update", object_type="site")
    late = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)
    await AuditEntry.filter(id=entry.id).update(at=late)
    where = audit.AuditFilter(start=late.replace(hour=0, minute=0, second=0),
                              end=late.replace(hour=0, minute=0, second=0) + timedelta(days=1))
    assert [e.id for e in await audit.entries(where)] == [entry.id]


async def test_the_action_filter_offers_each_action_once_in_order(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    """Read by one index probe per action (not every row of a long log)."""
    assert await audit.actions() == []
    for action in ("staff.role", "item.update", "site.update", "item.update", "item.bulk",
                   "staff.role", "a.first"):
        await AuditEntry.create(actor="x@example.org", action=action, object_type="site")
    assert await audit.actions() == ["a.first", "item.bulk", "item.update", "site.update",
                                     "staff.role"]
