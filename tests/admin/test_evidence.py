"""The admin's evidence pages (``admin/evidence.py``): the signed log and the keys with their
fingerprints, bundles to download (a period's, a visitor's), and a receipt's place in the log
on its proof page."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path

import httpx
from starlette.applications import Starlette

from cmp_server.models import AuditEntry
from cmp_server.services import checkpoints, signing
from cmp_verify.bundle import Bundle, verify
from cmp_verify.bundle import read_bundle as read

from ..factories import published_site, send_receipt, staff_member
from ._client import sign_in, token_of


async def _signed_in(client: httpx.AsyncClient, role: str) -> None:
    member = await staff_member(role)
    assert (await sign_in(client, member.email)).status_code == 303


def _bundle(body: bytes) -> Bundle:
    return read(io.BytesIO(body))


async def test_the_log_keys_and_a_period_bundle(
    app: Starlette, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    site, _ = await published_site()
    page_path = f"/admin/sites/{site.key}/evidence"
    await _signed_in(client, "viewer")
    page = await client.get(page_path)
    assert page.status_code == 200
    assert "No signing key" in page.text and "cmp-server keys create" in page.text
    assert "Download bundle" not in page.text  # an export: the privacy role's

    key = await signing.create_key(tmp_path / "signing-key.pem")
    signer = await signing.load_signer(tmp_path / "signing-key.pem")
    sent = [await send_receipt(client, site.key) for _ in range(3)]
    await checkpoints.take_checkpoints(signer)
    page = await client.get(page_path)
    assert key.fingerprint in page.text and "current" in page.text
    assert (await checkpoints.latest_checkpoint(site)).root_hash in page.text
    r = await client.post(page_path, data={"csrf_token": await token_of(client, page_path)})
    assert r.status_code == 403

    client.cookies.clear()
    await _signed_in(client, "privacy")
    token = await token_of(client, page_path)
    r = await client.post(page_path, data={"csrf_token": token, "from": "", "to": ""})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert "attachment" in r.headers["content-disposition"]
    report = verify(_bundle(r.content))
    assert report.ok and report.proven == 3, report.problems
    assert {r["receipt_id"] for r in _bundle(r.content).receipts} == {
        s["receipt_id"] for s in sent}
    assert await AuditEntry.filter(action="evidence.export").count() == 1
    # A period that holds nothing, and days that are no days.
    r = await client.post(page_path, data={"csrf_token": token, "from": "2001-01-01",
                                           "to": "2001-01-02"})
    assert r.status_code == 200 and verify(_bundle(r.content)).receipts == 0
    r = await client.post(page_path, data={"csrf_token": token, "from": "2026-05-02",
                                           "to": "2026-05-01"})
    assert r.status_code == 422 and "on or after the start date" in r.text
    r = await client.post(page_path, data={"csrf_token": token, "from": "yesterday"})
    assert r.status_code == 422 and 'aria-invalid="true"' in r.text


async def test_a_visitors_bundle_and_a_receipts_place_in_the_log(
    app: Starlette, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    site, _ = await published_site()
    await signing.create_key(tmp_path / "signing-key.pem")
    signer = await signing.load_signer(tmp_path / "signing-key.pem")
    visitor = str(uuid.uuid4())
    first = await send_receipt(client, site.key, consent_id=visitor)
    await send_receipt(client, site.key)
    await _signed_in(client, "privacy")
    receipt_path = f"/admin/sites/{site.key}/consents/{first['receipt_id']}"
    assert "Not in the log yet" in (await client.get(receipt_path)).text

    await checkpoints.take_checkpoints(signer)
    await send_receipt(client, site.key, consent_id=visitor)
    page = (await client.get(receipt_path)).text
    assert "Included" in page and "at position 0" in page and signer.key_id in page
    proof = await checkpoints.receipt_proof(site, uuid.UUID(first["receipt_id"]))
    assert proof.proof and all(h in page for h in proof.proof)

    visitor_path = f"/admin/sites/{site.key}/visitors/{visitor}"
    r = await client.post(f"{visitor_path}/evidence",
                          data={"csrf_token": await token_of(client, visitor_path)})
    assert r.status_code == 200
    bundle = _bundle(r.content)
    assert {x["consent_id"] for x in bundle.receipts} == {visitor}
    report = verify(bundle)
    assert report.ok and (report.receipts, report.proven, report.pending) == (2, 1, 1)
    assert "README.txt" in zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    r = await client.post(f"/admin/sites/{site.key}/visitors/{uuid.uuid4()}/evidence",
                          data={"csrf_token": await token_of(client, visitor_path)})
    assert r.status_code == 404
