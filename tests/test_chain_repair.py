"""Migration 0017 on a database holding the defect it repairs: receipts written while chains
were per consent id, so that a visitor on site A, then B, then A linked A's second receipt to
B's. After it, ``verify-receipts``, the proof page and the visitor's history verify both sites'
chains, no stored receipt changed, new receipts chain per site, and a real break is still
found. On the suite's database (SQLite or PostgreSQL), in a scratch database of its own."""

from __future__ import annotations

import asyncio
import csv
import importlib
import io
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
import pytest
from tortoise import Tortoise, connections
from tortoise.exceptions import BaseORMException

from cmp_server import db
from cmp_server._utils import utcnow
from cmp_server.app import create_app
from cmp_server.models import ConsentReceipt, ReceiptChainRepair, Site
from cmp_server.schemas import ReceiptIn
from cmp_server.services import evidence
from cmp_server.services.configs import ConfigCache
from cmp_server.services.consent_log import receipt_proof, visitor_history
from cmp_server.services.export import CSV_FIELDS, export_receipts, visitor_export
from cmp_server.services.receipt_store import COLUMNS, SENT, NewReceipt
from cmp_server.services.receipts import ReceiptDraft, draft_receipt, record_hash
from cmp_server.services.verify import ALTERED, verify_receipts
from cmp_server.services.writer import ReceiptWriter
from cmp_server.settings import Settings
from cmp_verify import records
from cmp_verify.bundle import read_bundle
from cmp_verify.bundle import verify as verify_bundle

from ._server import cli_env, run_cli
from .admin._client import sign_in
from .factories import published_site, receipt_body, staff_member
from .test_migrations import migrate_to, opened

# The migration 0017 follows (the schema holding the defect).
BEFORE = ".".join(
    importlib.import_module("cmp_server.migrations.0017_chains_per_site").Migration.dependencies[0]
)


@pytest.fixture
async def scratch(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    if not database_url.startswith("postgres"):
        yield f"sqlite://{tmp_path / 'chains.sqlite3'}"
        return
    import asyncpg

    parts = urlsplit(database_url)
    name = f"{parts.path.strip('/')}_chain_scratch"  # beside the suite's own database
    dsn = urlunsplit(parts._replace(scheme="postgresql"))
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name}")
        await conn.execute(f"CREATE DATABASE {name}")
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        await Tortoise.close_connections()
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.close()


def _written_as_before_0017(drafts: list[ReceiptDraft]) -> Iterator[NewReceipt]:
    """The rows the writer made before 0017, from the same drafts: each receipt linked to the
    visitor's last receipt on any site, and its hash chained over that one's."""
    last: dict[uuid.UUID, tuple[uuid.UUID, str]] = {}
    for draft in drafts:
        r = draft.receipt
        previous_id, previous_hash = last.get(r.consent_id, (None, ""))
        now = utcnow()
        row = NewReceipt(
            **{name: getattr(r, name) for name in SENT},
            site_id=draft.site_id, texts_hash=draft.texts_hash, recorded_at=now,
            expires_at=now + draft.lifetime, user_agent=draft.user_agent,
            ip_truncated=draft.ip_truncated, previous_receipt_id=previous_id,
            content_hash=draft.content_hash,
        )
        row.record_hash = record_hash(row, draft.site_key, previous_hash)
        last[r.consent_id] = (r.receipt_id, row.record_hash)
        yield row


async def _drafts(site: Site, visits: list[str]) -> list[ReceiptDraft]:
    published = await ConfigCache(ttl=60).version(site.key, 1)
    return [
        draft_receipt(ReceiptIn.model_validate(receipt_body(consent_id=c, language="en")),
                      published, user_agent="test", client_ip="203.0.113.9")
        for c in visits
    ]


async def _seed_the_defect() -> tuple[Site, Site, dict[str, list[uuid.UUID]]]:
    """Site A and B, and receipts written as before 0017: visitor C on A, B, A, B, A;
    visitor E on B, then A; visitor D on A only. Returns each visitor's receipt ids per site,
    keyed "C@A" and so on, in order."""
    a, _ = await published_site("A", ("a.example",))
    b, _ = await published_site("B", ("b.example",))
    c, d, e = (str(uuid.uuid4()) for _ in range(3))
    order = [(a, c), (b, c), (a, d), (a, c), (b, e), (b, c), (a, e), (a, d), (a, c)]
    drafts = [(await _drafts(site, [visitor]))[0] for site, visitor in order]
    ids: dict[str, list[uuid.UUID]] = {}
    for row in _written_as_before_0017(drafts):
        await ConsentReceipt.create(**{name: getattr(row, name) for name in COLUMNS})
        who = {c: "C", d: "D", e: "E"}[str(row.consent_id)]
        ids.setdefault(f"{who}@{'A' if row.site_id == a.id else 'B'}", []).append(row.receipt_id)
    return a, b, ids


async def _stored() -> dict[uuid.UUID, tuple[Any, ...]]:
    rows = await ConsentReceipt.all().values_list("receipt_id", "previous_receipt_id",
                                                  "record_hash", "choices")
    return {r[0]: r[1:] for r in rows}


async def _tamper(receipt_id: uuid.UUID, postgres: bool) -> None:
    """Someone with database access drops the guard and turns a refusal into consent."""
    conn = connections.get("default")
    if postgres:
        await conn.execute_script(
            "ALTER TABLE consent_receipt DISABLE TRIGGER consent_receipt_append_only"
        )
    else:
        await conn.execute_script("DROP TRIGGER consent_receipt_append_only")
    mark = "$1" if postgres else "?"
    await conn.execute_query(
        f"UPDATE consent_receipt SET method = 'accept_all' WHERE receipt_id = {mark}",
        [str(receipt_id)],
    )


async def test_interleaved_chains_verify_after_0017_and_a_real_break_is_still_found(
    scratch: str, tmp_path: Path, is_postgres: bool
) -> None:
    await migrate_to(scratch, BEFORE)
    await opened(scratch)
    site_a, site_b, ids = await _seed_the_defect()
    c_a, c_b, e_a = ids["C@A"], ids["C@B"], ids["E@A"]
    # The defect: A's second receipt of C links to B's first.
    second = await ConsentReceipt.get(receipt_id=c_a[1])
    assert second.previous_receipt_id == c_b[0]
    before = await _stored()
    await Tortoise.close_connections()

    await migrate_to(scratch, None)
    await db.open_database(scratch, run_migrations=False)
    assert await _stored() == before, "a stored receipt changed"
    repairs = {r.receipt_id: r for r in await ReceiptChainRepair.all()}
    # Each receipt whose stored link names another site's receipt, and only those.
    assert set(repairs) == {c_b[0], c_a[1], c_b[1], c_a[2], e_a[0]}
    assert repairs[c_a[1]].previous_receipt_id == c_a[0]
    assert repairs[c_a[1]].linked_hash == before[c_b[0]][1]
    assert repairs[c_b[0]].previous_receipt_id is None
    assert repairs[e_a[0]].previous_receipt_id is None and repairs[e_a[0]].site_id == site_a.id
    # Append-only, like the receipts.
    with pytest.raises(BaseORMException, match="append-only"):
        await ReceiptChainRepair.filter(receipt_id=c_a[1]).update(previous_receipt_id=None)

    for site, receipts, chains in ((site_a, 6, 3), (site_b, 3, 2)):
        result = await verify_receipts(site, page_size=2)
        assert result.ok, result.problems
        assert (result.checked, result.chains) == (receipts, chains)
    for site, visitor in ((site_a, "C"), (site_b, "C"), (site_a, "E"), (site_b, "E")):
        consent = (await ConsentReceipt.get(receipt_id=ids[f"{visitor}@{site.name}"][0])).consent_id
        history = await visitor_history(site, consent)
        assert [e.check for e in history.entries] == ["verified"] * len(history.entries)
    proof = await receipt_proof(site_a, c_a[1])
    assert (proof.check, proof.repaired) == ("verified", True)
    assert proof.previous is not None and proof.previous.receipt_id == c_a[0]
    assert proof.next is not None and proof.next.receipt_id == c_a[2]

    # The writer now chains per site: C's next receipt on A follows A's last, B's B's last.
    writer = ReceiptWriter()
    await writer.start()
    try:
        consent = str(second.consent_id)
        for site in (site_a, site_b, site_a):
            (draft,) = await _drafts(site, [consent])
            async with asyncio.timeout(60):  # a lane that died must fail the test, not hang it
                await writer.submit(draft)
    finally:
        await writer.stop()
    newest_a = await ConsentReceipt.filter(site=site_a, consent_id=consent).order_by("-id")
    assert [r.previous_receipt_id for r in newest_a[:2]] == [newest_a[1].receipt_id, c_a[2]]
    newest_b = await ConsentReceipt.filter(site=site_b, consent_id=consent).order_by("-id")
    assert newest_b[0].previous_receipt_id == c_b[1]
    assert (await verify_receipts(site_a)).ok and (await verify_receipts(site_b)).ok
    await db.close_database()

    # The command and the admin say the same, before and after a real break.
    env = cli_env(scratch, tmp_path)
    verified = run_cli(["verify-receipts", "--site", site_a.key], env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "8 receipts in 3 chains checked, 0 problems" in verified.stdout
    settings = Settings(
        environment="test", secret_key="test-secret-key-not-for-production",
        database_url=scratch, data_dir=tmp_path, config_cache_seconds=0, run_worker=False,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.77", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            member = await staff_member("viewer")
            assert (await sign_in(client, member.email)).status_code == 303
            page = f"/admin/sites/{site_a.key}/consents/{c_a[1]}"
            visitor = f"/admin/sites/{site_a.key}/visitors/{consent}"
            shown = (await client.get(page)).text
            assert ">Verifies</span>" in shown and "Broken chain" not in shown
            assert "chain repair" in shown  # and it says why its stored link is elsewhere
            history = await client.get(visitor)
            assert history.status_code == 200, history.text
            assert "broken chain" not in history.text
            assert len(re.findall(r'class="ok">verifies<', history.text)) == 5

            await _tamper(c_a[1], is_postgres)
            assert ">Altered</span>" in (await client.get(page)).text
            assert 'class="bad">altered<' in (await client.get(visitor)).text
    broken = run_cli(["verify-receipts", "--site", site_a.key], env)
    assert broken.returncode == 1
    assert f"BROKEN {consent} {c_a[1]}: {ALTERED}" in broken.stdout
    # The other site's chain is its own: the break on A does not reach it.
    assert run_cli(["verify-receipts", "--site", site_b.key], env).returncode == 0


def _chains_verify(lines: list[dict[str, Any]]) -> list[str]:
    """What ``verify-receipts`` checks, done on an export alone, as its reader would: each
    visitor's receipts in order, each linked to the one before it and its record hash made
    over that one's (over the repair's, where the export gives one). The receipts that fail."""
    failed = []
    by_visitor: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_visitor.setdefault(line["consent_id"], []).append(line)
    for receipts in by_visitor.values():
        before: dict[str, Any] | None = None
        for receipt in sorted(receipts, key=lambda r: r["recorded_at"]):
            repair = receipt.get("chain_repair")
            link = repair["previous_receipt_id"] if repair else receipt["previous_receipt_id"]
            over = repair["linked_hash"] if repair else (before or {}).get("record_hash", "")
            if (link != (before or {}).get("receipt_id")
                    or records.record_hash(receipt, over) != receipt["record_hash"]):
                failed.append(receipt["receipt_id"])
            before = receipt
    return failed


async def test_exports_and_bundles_of_repaired_chains_verify(
    scratch: str, tmp_path: Path
) -> None:
    await migrate_to(scratch, BEFORE)
    await opened(scratch)
    site_a, site_b, ids = await _seed_the_defect()
    await Tortoise.close_connections()
    await migrate_to(scratch, None)
    await db.open_database(scratch, run_migrations=False)
    try:
        repaired = {str(r.receipt_id): r for r in await ReceiptChainRepair.all()}
        for site, receipts in ((site_a, 6), (site_b, 3)):
            lines = [orjson.loads(line) for line in
                     b"".join([c async for c in export_receipts(site, "jsonl")]).splitlines()]
            assert len(lines) == receipts
            # The repairs of this site's receipts, and only those, travel with them.
            assert {r["receipt_id"] for r in lines if "chain_repair" in r} == {
                i for i, r in repaired.items() if r.site_id == site.id}
            assert _chains_verify(lines) == []
            # Without them the interleaved chains do not verify: they are what the export adds.
            bare = [{k: v for k, v in r.items() if k != "chain_repair"} for r in lines]
            assert _chains_verify(bare)

            # The CSV says the same in two columns, empty where there is no repair.
            data = b"".join([c async for c in export_receipts(site, "csv")]).decode()
            rows = list(csv.DictReader(io.StringIO(data)))
            assert tuple(rows[0]) == CSV_FIELDS
            for row, line in zip(rows, lines, strict=True):
                repair = line.get("chain_repair") or {}
                assert row["receipt_id"] == line["receipt_id"]
                assert row["chain_repair_linked_hash"] == (repair.get("linked_hash") or "")
                assert row["chain_repair_previous_receipt_id"] == (
                    repair.get("previous_receipt_id") or "")

            # A visitor's access-request export and the evidence bundle carry them too; the
            # bundle verifies offline (cmp-verify).
            consent = (await ConsentReceipt.get(receipt_id=ids[f"C@{site.name}"][0])).consent_id
            mine = orjson.loads(await visitor_export(site, consent, by=None))
            assert _chains_verify(mine["receipts"]) == []
            assert [r["verification"] for r in mine["receipts"]] == ["verified"] * len(
                mine["receipts"])
            bundle = tmp_path / f"{site.name}.zip"
            with bundle.open("wb") as out:
                await evidence.write_evidence(site, evidence.Selection(), out,
                                              public_url="https://cmp.example", name=bundle.name)
            report = verify_bundle(read_bundle(bundle))
            assert report.ok, report.problems
            assert (report.receipts, report.chains) == (receipts, 3 if site is site_a else 2)
    finally:
        await db.close_database()
