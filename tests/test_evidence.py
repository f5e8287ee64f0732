"""The evidence bundle and the offline verifier (issue 21): what an untouched bundle proves."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from cmp_server.models import ConsentReceipt
from cmp_server.services import checkpoints, evidence, receipts, signing
from cmp_server.services.receipt_store import HASHED
from cmp_verify import records
from cmp_verify.bundle import read_bundle, verify
from cmp_verify.cli import main as cmp_verify

from .factories import published_site, send_receipt


@pytest.fixture
async def signer(app: object, tmp_path: Path) -> signing.Signer:
    path = tmp_path / "signing-key.pem"
    await signing.create_key(path)
    return await signing.load_signer(path)


async def _history(client: httpx.AsyncClient, key: str, visitors: int, each: int) -> list[str]:
    ids = []
    for _ in range(visitors):
        first = await send_receipt(client, key, page_url="https://www.shop.example/kåsa?ü=1")
        ids.append(first["consent_id"])
        for _ in range(each - 1):
            await send_receipt(client, key, consent_id=first["consent_id"], method="reject_all",
                               choices={"necessary": True, "preferences": False,
                                        "statistics": False, "marketing": False})
    return ids


async def _zip(site: Any, selection: evidence.Selection) -> bytes:
    out = io.BytesIO()
    await evidence.write_evidence(site, selection, out, public_url="https://cmp.example",
                                  name="b.zip")
    return out.getvalue()


def test_the_verifier_hashes_the_fields_the_server_hashes() -> None:
    assert set(records.HASHED) == set(HASHED)


async def test_the_verifiers_record_hash_is_the_servers(
    client: httpx.AsyncClient, signer: signing.Signer
) -> None:
    site, _ = await published_site()
    await _history(client, site.key, 2, 2)
    rows = await ConsentReceipt.filter(site_id=site.id).order_by("id")
    by_id = {r.receipt_id: r for r in rows}
    for row in rows:
        previous = by_id[row.previous_receipt_id].record_hash if row.previous_receipt_id else ""
        assert receipts.record_hash(row, site.key, previous) == row.record_hash
        assert records.record_hash(evidence.receipt_json(row, site.key), previous) == \
            row.record_hash


async def test_an_untouched_bundle_verifies_and_says_what_it_proves(
    client: httpx.AsyncClient, signer: signing.Signer, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    site, _ = await published_site()
    visitors = await _history(client, site.key, 3, 2)
    await checkpoints.take_checkpoints(signer)
    visitors += await _history(client, site.key, 2, 3)
    await checkpoints.take_checkpoints(signer)
    await send_receipt(client, site.key)  # after the last checkpoint: pending, not wrong

    path = tmp_path / "site.zip"
    path.write_bytes(await _zip(site, evidence.Selection()))
    names = zipfile.ZipFile(path).namelist()
    assert sorted(names) == ["README.txt", "checkpoints.jsonl", "configs.json", "keys.json",
                             "leaves.txt", "manifest.json", "receipts.jsonl"]
    assert "BEGIN PRIVATE KEY" not in path.read_bytes().decode("latin-1")
    report = verify(read_bundle(path))
    assert report.ok, report.problems
    assert (report.receipts, report.chains, report.proven, report.pending) == (13, 6, 12, 1)
    assert (report.checkpoints, report.tree_size) == (2, 12)
    assert list(report.keys) == [signer.key_id]

    assert cmp_verify([str(path)]) == 0
    out = capsys.readouterr().out
    assert "VERIFIED" in out and f"site {site.key}" in out and signer.key_id in out

    # One visitor's bundle, for their access request.
    path.write_bytes(await _zip(site, evidence.Selection(uuid.UUID(visitors[3]))))
    mine = read_bundle(path)
    assert [r["consent_id"] for r in mine.receipts] == [visitors[3]] * 3
    report = verify(mine)
    assert report.ok, report.problems
    assert (report.receipts, report.chains, report.proven) == (3, 1, 3)
    # Pinning the key by its fingerprint, as a regulator who got it from /v1/keys would.
    assert cmp_verify([str(path), "--trust", next(iter(report.keys.values()))]) == 0
    assert cmp_verify([str(path), "--trust", "0" * 64]) == 1
    assert "not introduced by an earlier key" in capsys.readouterr().out

    path.write_bytes(b"not a zip")
    assert cmp_verify([str(path)]) == 2
