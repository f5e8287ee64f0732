"""The evidence bundle and the offline verifier (issue 21): what an untouched bundle proves."""

from __future__ import annotations

import io
import json
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
from cmp_verify.bundle import FORMAT_CHECK, read_bundle, verify
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


def _rewritten(source: Path, target: Path, lines: list[bytes]) -> None:
    """``source`` with its receipts.jsonl replaced by ``lines``."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            new.writestr(name, b"".join(lines) if name == "receipts.jsonl" else old.read(name))


async def test_the_verifier_reads_the_receipts_in_tree_order_in_shards(
    client: httpx.AsyncClient, signer: signing.Signer, tmp_path: Path
) -> None:
    """The receipts are checked a line at a time, each visitor's in one shard: a bundle whose
    receipts are out of tree order, or whose line names another consent id first, fails by
    the bundle's format, in one process and in several."""
    site, _ = await published_site()
    await _history(client, site.key, 4, 2)
    await checkpoints.take_checkpoints(signer)
    path = tmp_path / "site.zip"
    path.write_bytes(await _zip(site, evidence.Selection()))
    lines = read_bundle(path).lines("receipts.jsonl")
    original = list(lines)
    for jobs in (1, 3):
        assert verify(read_bundle(path), jobs=jobs).ok

    swapped = tmp_path / "swapped.zip"  # two receipts of one visitor, in the wrong order
    first = json.loads(original[0])
    later = next(i for i, line in enumerate(original) if i and json.loads(line)["consent_id"]
                 == first["consent_id"])
    reordered = list(original)
    reordered[0], reordered[later] = reordered[later], reordered[0]
    _rewritten(path, swapped, reordered)
    for jobs in (1, 3):
        report = verify(read_bundle(swapped), jobs=jobs)
        assert any(p.check == FORMAT_CHECK and p.subject == f"receipt {first['receipt_id']}"
                   for p in report.problems), report.problems

    # A line that names another visitor's consent id before its own (in a choice's key):
    # it fails (its record hash, and in shards the shard that takes it by that id says so),
    # never passes unchecked.
    moved = json.loads(original[1])
    other = json.loads(original[0])["consent_id"]
    moved = {"choices": {"consent_id": other, **moved["choices"]},
             **{k: v for k, v in moved.items() if k != "choices"}}
    misrouted = list(original)
    misrouted[1] = (json.dumps(moved, ensure_ascii=False) + "\n").encode()
    _rewritten(path, tmp_path / "misrouted.zip", misrouted)
    for jobs in (1, 3):
        report = verify(read_bundle(tmp_path / "misrouted.zip"), jobs=jobs)
        assert not report.ok
        assert any(p.subject == f"receipt {moved['receipt_id']}" for p in report.problems)
