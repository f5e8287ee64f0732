"""Issue 21's "done when": an insider with database access tampers in every way we know of,
and both ``verify-receipts`` (``proof_audit.audit_site``, on the live tables) and ``cmp-verify``
(on an exported bundle) name the failing receipt, checkpoint or key and the check. The same
tests run on SQLite and PostgreSQL (CMP_TEST_DATABASE_URL)."""

from __future__ import annotations

import base64
import contextlib
import io
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tortoise import connections

from cmp_server._utils import utcnow
from cmp_server.models import Checkpoint, ConfigVersion, ConsentReceipt, SigningKey
from cmp_server.services import checkpoints, evidence, receipts, signing
from cmp_server.services.proof_audit import audit_site
from cmp_server.services.verify import verify_receipts
from cmp_verify import bundle as checks
from cmp_verify.bundle import Report, read_bundle, verify
from cmp_verify.checkpoint import key_id, parse_body
from cmp_verify.cli import main as cmp_verify

from .factories import published_site, send_receipt

GUARDS = {
    "consent_receipt": ("consent_receipt_append_only", "consent receipts are append-only"),
    "checkpoint": ("checkpoint_append_only", "checkpoint rows are append-only"),
    "receipt_leaf": ("receipt_leaf_append_only", "receipt_leaf rows are append-only"),
}


@contextlib.asynccontextmanager
async def unguarded(is_postgres: bool, *tables: str) -> AsyncIterator[None]:
    """What an insider does first: turn off the append-only triggers."""
    conn = connections.get("default")
    for table in tables:
        trigger, _ = GUARDS[table]
        if is_postgres:
            await conn.execute_script(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        else:
            await conn.execute_script(f"DROP TRIGGER {trigger}")
    try:
        yield
    finally:
        for table in tables:
            trigger, message = GUARDS[table]
            if is_postgres:
                await conn.execute_script(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
            else:
                await conn.execute_script(
                    f"CREATE TRIGGER {trigger} BEFORE UPDATE ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{message}'); END;")


class Log:
    """A site with 3 visitors of 3 receipts, a checkpoint, 2 visitors of 2, a checkpoint."""

    def __init__(self, site: Any, signer: signing.Signer, visitors: list[str]) -> None:
        self.site = site
        self.signer = signer
        self.visitors = visitors

    async def chain(self, consent_id: str) -> list[ConsentReceipt]:
        return list(await ConsentReceipt.filter(site_id=self.site.id, consent_id=consent_id)
                    .order_by("id"))


@pytest.fixture
async def log(client: httpx.AsyncClient, tmp_path: Path) -> Log:
    site, _ = await published_site()
    await signing.create_key(tmp_path / "signing-key.pem")
    signer = await signing.load_signer(tmp_path / "signing-key.pem")
    visitors = []
    for count, each in ((3, 3), (2, 2)):
        for _ in range(count):
            first = await send_receipt(client, site.key)
            visitors.append(first["consent_id"])
            for _ in range(each - 1):
                await send_receipt(client, site.key, consent_id=first["consent_id"])
        await checkpoints.take_checkpoints(signer)
    untouched = await _both(Log(site, signer, visitors), tmp_path)
    assert all(r.ok for r in untouched), [r.problems for r in untouched]
    return Log(site, signer, visitors)


async def _both(log: Log, tmp_path: Path, whole_tree: bool | None = None) -> list[Report]:
    """The live check, and the offline verifier on a bundle of the site (proofs per receipt,
    and the whole tree), as cmp-verify runs it."""
    reports = [await audit_site(log.site)]
    for whole in (False, True):
        out = io.BytesIO()
        await evidence.write_evidence(log.site, evidence.Selection(), out, whole_tree=whole,
                                      public_url="https://cmp.example", name="b.zip")
        path = tmp_path / f"bundle-{whole}.zip"
        path.write_bytes(out.getvalue())
        reports.append(verify(read_bundle(path)))
        # The same checks in two processes, each taking half the visitors.
        reports.append(verify(read_bundle(path), jobs=2))
    return reports


def _named(reports: list[Report], subject: str, check: str) -> None:
    for report in reports:
        assert any(p.subject == subject and p.check == check for p in report.problems), (
            subject, check, report.problems)


def _cli_names(tmp_path: Path, capsys: pytest.CaptureFixture[str], *words: str) -> None:
    assert cmp_verify([str(tmp_path / "bundle-False.zip")]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out
    for word in words:
        assert word in out, (word, out)


async def _rechain(site_key: str, rows: list[ConsentReceipt], start: int) -> None:
    """Recompute the record hashes from ``rows[start]`` on, as an insider covering tracks."""
    previous = rows[start - 1].record_hash if start else ""
    for row in rows[start:]:
        row.record_hash = receipts.record_hash(row, site_key, previous)
        await ConsentReceipt.filter(id=row.id).update(
            choices=row.choices, record_hash=row.record_hash, recorded_at=row.recorded_at)
        previous = row.record_hash


async def test_edited_choices_with_the_chain_recomputed(
    log: Log, is_postgres: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = await log.chain(log.visitors[0])
    rows[1].choices = {k: True for k in rows[1].choices}  # a refusal becomes consent
    async with unguarded(is_postgres, "consent_receipt"):
        await _rechain(log.site.key, rows, 1)
    assert (await verify_receipts(log.site)).ok  # the hash chain alone cannot tell
    reports = await _both(log, tmp_path)
    for row in rows[1:]:
        _named(reports, f"receipt {row.receipt_id}", checks.INCLUSION)
    _cli_names(tmp_path, capsys, str(rows[1].receipt_id), checks.INCLUSION)


async def test_a_deleted_receipt(
    log: Log, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    last = (await log.chain(log.visitors[1]))[-1]  # the last: no chain points at it
    await ConsentReceipt.filter(id=last.id).delete()
    assert (await verify_receipts(log.site)).ok
    reports = await _both(log, tmp_path)
    _named(reports, f"receipt {last.receipt_id}", checks.POSITION)
    _cli_names(tmp_path, capsys, str(last.receipt_id), "missing")


async def test_a_backdated_insert(
    log: Log, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A receipt written straight into the table, dated two days ago, hashed correctly."""
    model = (await log.chain(log.visitors[0]))[0]
    fields = {f: getattr(model, f) for f in ("config_version", "texts_hash", "language",
                                             "choices", "method", "layer", "page_url",
                                             "user_agent", "ip_truncated", "content_hash")}
    import uuid

    when = utcnow() - timedelta(days=2)
    row = ConsentReceipt(site_id=log.site.id, receipt_id=uuid.uuid4(), consent_id=uuid.uuid4(),
                         recorded_at=when, expires_at=when + timedelta(days=180),
                         previous_receipt_id=None, record_hash="", **fields)
    row.record_hash = receipts.record_hash(row, log.site.key, "")
    await row.save()
    assert (await verify_receipts(log.site)).ok
    # Before the next checkpoint: recorded before the last one, yet not in it.
    _named(await _both(log, tmp_path), f"receipt {row.receipt_id}", checks.BACKDATED)
    # After it: in the log, but at a position after a checkpoint it predates.
    await checkpoints.take_checkpoints(log.signer)
    _named(await _both(log, tmp_path), f"receipt {row.receipt_id}", checks.BACKDATED)
    _cli_names(tmp_path, capsys, str(row.receipt_id), checks.BACKDATED)


async def test_two_receipts_reordered(
    log: Log, is_postgres: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two receipts of different visitors swap their places in the stored order."""
    a = (await log.chain(log.visitors[0]))[2]
    b = (await log.chain(log.visitors[3]))[0]
    conn = connections.get("default")
    async with unguarded(is_postgres, "consent_receipt"):
        for old, new in ((a.id, -a.id), (b.id, a.id), (-a.id, b.id)):
            await conn.execute_script(f"UPDATE consent_receipt SET id = {new} WHERE id = {old}")
    assert (await verify_receipts(log.site)).ok
    reports = await _both(log, tmp_path)
    for row in (a, b):
        _named(reports, f"receipt {row.receipt_id}", checks.INCLUSION)
    _cli_names(tmp_path, capsys, str(a.receipt_id), str(b.receipt_id))


async def test_a_config_versions_texts_replaced(
    log: Log, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    version = await ConfigVersion.get(site_id=log.site.id, number=1)
    config = json.loads(version.canonical_json)
    texts = config["texts"]["sv"]
    first = sorted(texts)[0]
    texts[first] = "Vi säljer inte dina uppgifter."  # words the visitor never read
    await ConfigVersion.filter(id=version.id).update(canonical_json=json.dumps(config))
    reports = await _both(log, tmp_path)
    for consent_id in log.visitors:
        for row in await log.chain(consent_id):
            _named(reports, f"receipt {row.receipt_id}", checks.TEXTS)
    _cli_names(tmp_path, capsys, checks.TEXTS)


async def test_a_swapped_checkpoint(
    log: Log, is_postgres: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = await Checkpoint.filter(site_id=log.site.id).order_by("tree_size")
    async with unguarded(is_postgres, "checkpoint"):
        await Checkpoint.filter(id=first.id).update(body=second.body, signature=second.signature)
        await Checkpoint.filter(id=second.id).update(body=first.body, signature=first.signature)
    reports = await _both(log, tmp_path)
    for report in reports:
        assert {p.subject for p in report.problems if p.subject.startswith("checkpoint")}, \
            report.problems
    _named(reports, f"checkpoint {second.tree_size}", checks.SIGNATURE)
    _cli_names(tmp_path, capsys, f"checkpoint {second.tree_size}", checks.SIGNATURE)


async def test_a_checkpoint_signed_with_a_foreign_key(
    log: Log, is_postgres: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The insider makes a key of their own, lists it beside ours and re-signs the latest
    checkpoint with it."""
    foreign = Ed25519PrivateKey.generate()
    raw = foreign.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
    await SigningKey.create(key_id=key_id(raw), public_key=base64.b64encode(raw).decode(),
                            created_at=utcnow())
    latest = await Checkpoint.filter(site_id=log.site.id).order_by("-tree_size").first()
    assert latest is not None
    body = parse_body(latest.body.encode())
    forged = type(body)(body.site, body.size, body.root, body.time, key_id(raw), body.previous)
    async with unguarded(is_postgres, "checkpoint"):
        await Checkpoint.filter(id=latest.id).update(
            key_id=key_id(raw), body=forged.text(),
            signature=base64.b64encode(foreign.sign(forged.encode())).decode())
    reports = await _both(log, tmp_path)
    _named(reports, f"key {key_id(raw)}", checks.KEY)
    _named(reports, f"checkpoint {body.size}", checks.KEY)
    _cli_names(tmp_path, capsys, key_id(raw), "foreign key")
