"""Receipts as leaves of their site's Merkle tree, and signed checkpoints of it (issue 21)."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import httpx
import pytest
from tortoise.exceptions import BaseORMException

from cmp_server.errors import SigningKeyProblem
from cmp_server.models import Checkpoint, ConsentReceipt, ReceiptLeaf, TreeNode
from cmp_server.services import checkpoints, signing, tree_store
from cmp_verify.checkpoint import body_hash, key_statement, parse_body, verify_signature
from cmp_verify.merkle import Tree, leaf_hash, verify_consistency, verify_inclusion

from .factories import chained_receipts, published_site, send_receipt


@pytest.fixture
async def signer(app: object, tmp_path: Path) -> signing.Signer:
    path = tmp_path / "keys" / "signing-key.pem"
    await signing.create_key(path)
    return await signing.load_signer(path)


async def _public(key_id: str) -> bytes:
    keys = {k.key_id: k for k in await signing.list_keys()}
    return base64.b64decode(keys[key_id].public_key)


async def test_receipts_become_leaves_in_stored_order_and_each_run_signs_once(
    client: httpx.AsyncClient, signer: signing.Signer
) -> None:
    site, _ = await published_site()
    other, _ = await published_site("Other", ("other.example", "shop.example"))
    first = await send_receipt(client, site.key)
    await send_receipt(client, site.key, consent_id=first["consent_id"])
    await send_receipt(client, site.key)

    made = await checkpoints.take_checkpoints(signer)
    assert [(c.site, c.tree_size) for c in made] == [(site.key, 3)]
    assert await checkpoints.take_checkpoints(signer) == []  # nothing new: nothing signed

    receipts = await ConsentReceipt.filter(site_id=site.id).order_by("id")
    leaves = await ReceiptLeaf.filter(site_id=site.id).order_by("position")
    assert [leaf.receipt_pk for leaf in leaves] == [r.id for r in receipts]
    assert [leaf.position for leaf in leaves] == [0, 1, 2]
    hashes = [leaf_hash(bytes.fromhex(r.record_hash)) for r in receipts]
    assert [bytes.fromhex(leaf.leaf_hash) for leaf in leaves] == hashes

    one = made[0]
    body = parse_body(one.body.encode())
    assert (body.site, body.size, body.root, body.previous) == (
        site.key, 3, Tree(hashes).root().hex(), "")
    assert body.key_id == signer.key_id
    assert verify_signature(await _public(signer.key_id), base64.b64decode(one.signature),
                            one.body.encode())

    # More receipts, on both sites: the next checkpoint names this one and extends its tree.
    for _ in range(4):
        await send_receipt(client, site.key)
    await send_receipt(client, other.key)
    made = await checkpoints.take_checkpoints(signer)
    assert sorted((c.site, c.tree_size) for c in made) == sorted([(site.key, 7), (other.key, 1)])
    later = next(c for c in made if c.site == site.key)
    assert later.previous_hash == body_hash(one.body.encode()) == one.hash
    all_hashes = await checkpoints.leaf_hashes(site, 7)
    tree = Tree(all_hashes)
    assert later.root_hash == tree.root().hex()
    assert verify_consistency(3, 7, tree.consistency_proof(3), bytes.fromhex(one.root_hash),
                              bytes.fromhex(later.root_hash))
    assert (await checkpoints.latest_checkpoint(site)).tree_size == 7
    assert (await checkpoints.checkpoint_of_size(site, 3)).hash == one.hash

    proof = await checkpoints.receipt_proof(site, receipts[1].receipt_id)
    assert proof.position == 1 and proof.checkpoint is not None
    assert verify_inclusion(1, 7, hashes[1], [bytes.fromhex(h) for h in proof.proof],
                            bytes.fromhex(proof.checkpoint.root_hash))


async def test_proofs_read_from_stored_subtrees_are_the_whole_trees(
    app: object, signer: signing.Signer
) -> None:
    """Proofs made from the stored subtrees (every 4th level) and a few leaves are the proofs
    of the tree built from every leaf, across runs that stop at sizes of every shape."""
    site, _ = await published_site()
    sizes = []
    for count in (1, 16, 20, 219, 300, 1):  # 1, 17, 37, 256, 556, 557
        await chained_receipts(site, count)
        made = await checkpoints.take_checkpoints(signer)
        sizes.append(made[0].tree_size)
    assert sizes == [1, 17, 37, 256, 556, 557]
    tree = Tree(await checkpoints.leaf_hashes(site, 557))
    # One row per 16 leaves and per 256: what the store keeps of a 557-leaf tree.
    assert await TreeNode.filter(site_id=site.id, level=4).count() == 557 // 16
    assert await TreeNode.filter(site_id=site.id, level=8).count() == 557 // 256
    assert await TreeNode.filter(site_id=site.id).exclude(level__in=(4, 8)).count() == 0
    for size in sizes:
        assert await tree_store.root(site.id, size) == tree.root(size)
        for index in {0, size // 3, size // 2, size - 1}:
            assert (await tree_store.inclusion_proof(site.id, index, size)
                    == tree.inclusion_proof(index, size)), (index, size)
        for old in sizes:
            if old <= size:
                assert (await tree_store.consistency_proof(site.id, old, size)
                        == tree.consistency_proof(old, size)), (old, size)
    receipt = await ConsentReceipt.filter(site_id=site.id).order_by("id").offset(300).first()
    assert receipt is not None
    proof = await checkpoints.receipt_proof(site, receipt.receipt_id)
    assert proof.position == 300 and proof.verifies(receipt.record_hash)


async def test_the_migration_stores_the_subtrees_of_existing_trees(
    app: object, signer: signing.Signer
) -> None:
    """0022's backfill, run on trees whose subtrees were never stored, stores what the
    checkpoint run stores."""
    import importlib
    from types import SimpleNamespace

    from tortoise import connections

    site, _ = await published_site()
    await chained_receipts(site, 300)
    await checkpoints.take_checkpoints(signer)
    stored = sorted(await TreeNode.filter(site_id=site.id).values_list("level", "node_index",
                                                                        "hash"))
    assert len(stored) == 300 // 16 + 300 // 256
    await TreeNode.filter(site_id=site.id).delete()
    migration = importlib.import_module("cmp_server.migrations.0022_tree_nodes")
    client = connections.get("default")
    await migration._backward(None, SimpleNamespace(client=client))  # its trigger, then again
    await migration._forward(None, SimpleNamespace(client=client))
    assert sorted(await TreeNode.filter(site_id=site.id).values_list(
        "level", "node_index", "hash")) == stored


async def test_leaves_and_checkpoints_cannot_be_updated(
    client: httpx.AsyncClient, signer: signing.Signer
) -> None:
    site, _ = await published_site()
    await send_receipt(client, site.key)
    await checkpoints.take_checkpoints(signer)
    with pytest.raises(BaseORMException, match="append-only"):
        await ReceiptLeaf.filter(site_id=site.id).update(leaf_hash="0" * 64)
    with pytest.raises(BaseORMException, match="append-only"):
        await Checkpoint.filter(site_id=site.id).update(tree_size=5)


async def test_the_key_file_is_private_and_a_rotated_key_keeps_verifying(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    path = tmp_path / "k" / "signing-key.pem"
    with pytest.raises(SigningKeyProblem, match="keys create"):
        await signing.load_signer(path)
    assert await checkpoints.run_checkpoints(path) == []  # says how, signs nothing
    first = await signing.create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(SigningKeyProblem, match="rotate"):
        await signing.create_key(path)
    site, _ = await published_site()
    await send_receipt(client, site.key)
    old = (await checkpoints.run_checkpoints(path))[0]

    second = await signing.rotate_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (await signing.load_signer(path)).key_id == second.key_id != first.key_id
    keys = {k.key_id: k for k in await signing.list_keys()}
    assert keys[first.key_id].retired_at is not None and keys[second.key_id].retired_at is None
    # The old key introduced the new one.
    statement = key_statement(base64.b64decode(second.public_key),
                              checkpoints.rfc3339(keys[second.key_id].created_at))
    assert second.endorsed_by == first.key_id
    assert verify_signature(base64.b64decode(first.public_key),
                            base64.b64decode(second.endorsement), statement)
    # What the retired key signed verifies by its public half, kept.
    assert verify_signature(base64.b64decode(keys[old.key_id].public_key),
                            base64.b64decode(old.signature), old.body.encode())
    await send_receipt(client, site.key)
    new = (await checkpoints.run_checkpoints(path))[0]
    assert new.key_id == second.key_id and new.previous_hash == old.hash

    # A file others may read is refused, with the fix.
    os.chmod(path, 0o644)
    with pytest.raises(SigningKeyProblem, match="chmod 600"):
        await signing.load_signer(path)


async def test_checkpoints_and_keys_are_published(
    client: httpx.AsyncClient, signer: signing.Signer
) -> None:
    site, _ = await published_site()
    r = await client.get(f"/v1/sites/{site.key}/checkpoints")
    assert r.status_code == 404 and r.json()["error"] == "checkpoint_not_found"
    for _ in range(2):
        await send_receipt(client, site.key)
        await checkpoints.take_checkpoints(signer)
    latest = (await client.get(f"/v1/sites/{site.key}/checkpoints")).json()
    assert (latest["tree_size"], latest["key_id"]) == (2, signer.key_id)
    first = await client.get(f"/v1/sites/{site.key}/checkpoints", params={"size": "1"})
    assert first.status_code == 200 and "immutable" in first.headers["cache-control"]
    assert latest["previous_hash"] == first.json()["hash"]
    assert verify_signature(signer.public_key, base64.b64decode(latest["signature"]),
                            latest["body"].encode())
    for bad in ("x", "-1", "9" * 30, ""):
        r = await client.get(f"/v1/sites/{site.key}/checkpoints", params={"size": bad})
        assert r.status_code in (400, 404) and r.json()["error"], (bad, r.text)
    assert (await client.get(f"/v1/sites/{site.key}/checkpoints?size=7")).status_code == 404
    assert (await client.get("/v1/sites/nosuchsite0000/checkpoints")).status_code == 404

    keys = (await client.get("/v1/keys")).json()["keys"]
    assert [(k["key_id"], k["retired_at"]) for k in keys] == [(signer.key_id, None)]
    assert keys[0]["fingerprint"].startswith(signer.key_id)
    assert base64.b64decode(keys[0]["public_key"]) == signer.public_key
