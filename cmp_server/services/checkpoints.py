"""Each site's receipts as a Merkle tree (RFC 6962), and signed checkpoints of it (issue 21).

A run (``take_checkpoints``: every ``checkpoint_interval_seconds`` in the server or a worker,
and on demand) does two things in one transaction, by one process at a time
(``Dialect.claim_signer``):

1. It appends the receipts stored since the last run to their site's tree, in the order they
   were stored (by serial id): each gets the next position (``ReceiptLeaf``), once. So that a
   receipt committed late under a smaller id is not passed over, the run takes only ids up
   to one below which every insert has ended (``Dialect.settled_top``): every later receipt
   gets a greater id.
2. For each site whose tree grew, it signs a checkpoint: site, tree size, root, the time the
   tree's contents were fixed, key id and the previous checkpoint's hash
   (``cmp_verify.checkpoint``). A leaf is a receipt's record hash:
   ``SHA-256(0x00 || record_hash)``.

The unique (site, position) and (site, tree size) and (site, previous hash) keep a second
signer from forking a tree even if the lock were lost.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from cmp_verify.checkpoint import CheckpointBody, body_hash
from cmp_verify.merkle import Frontier, leaf_hash, verify_inclusion

from .. import db
from .._utils import rfc3339, utcnow
from ..errors import CheckpointNotFound, ConsentNotFound, SigningKeyProblem
from ..models import Checkpoint, ConsentReceipt, ReceiptLeaf, Site
from . import tree_store
from .signing import Signer, load_signer

__all__ = [
    "CheckpointView",
    "ReceiptProof",
    "checkpoint_of_size",
    "checkpoints_between",
    "latest_checkpoint",
    "leaf_hashes",
    "receipt_proof",
    "run_checkpoints",
    "take_checkpoints",
]

log = logging.getLogger(__name__)

_PAGE = 5000  # ids of receipts a statement (a range: gaps make pages smaller)


@dataclass(frozen=True)
class CheckpointView:
    """A checkpoint as published (``GET /v1/sites/{key}/checkpoints``) and bundled."""

    site: str
    tree_size: int
    root_hash: str
    time: str
    key_id: str
    previous_hash: str
    body: str
    signature: str
    hash: str

    @classmethod
    def of(cls, row: Checkpoint, site_key: str) -> CheckpointView:
        return cls(site_key, row.tree_size, row.root_hash, rfc3339(row.signed_at), row.key_id,
                   row.previous_hash, row.body, row.signature, body_hash(row.body.encode()))

    def as_json(self) -> dict[str, Any]:
        return {"site": self.site, "tree_size": self.tree_size, "root_hash": self.root_hash,
                "time": self.time, "key_id": self.key_id, "previous_hash": self.previous_hash,
                "body": self.body, "signature": self.signature, "hash": self.hash}


class _Growing:
    """A site's tree during a run: its last checkpoint and the frontier after it."""

    def __init__(self, site_id: int, last: Checkpoint | None, frontier: Frontier) -> None:
        self.site_id = site_id
        self.last = last
        self.frontier = frontier

    @property
    def grew(self) -> bool:
        """Whether the tree holds more than its last checkpoint: one to sign."""
        return self.frontier.size > (self.last.tree_size if self.last is not None else 0)


async def _open_tree(conn: BaseDBAsyncClient, site_id: int) -> _Growing:
    """The site's tree as its last checkpoint left it, and the leaves after that."""
    last = await (Checkpoint.filter(site_id=site_id).using_db(conn)
                  .order_by("-tree_size").first())
    frontier = Frontier()
    if last is not None:
        frontier = Frontier(last.tree_size, [bytes.fromhex(h) for h in json.loads(last.frontier)])
        if frontier.root().hex() != last.root_hash:
            raise RuntimeError(f"site {site_id}: the stored frontier of checkpoint"
                               f" {last.tree_size} does not give its root; run verify-receipts")
    # Leaves appended after the last checkpoint (none unless a run failed half way before
    # this code kept both in one transaction): the tree goes on from them. Their subtrees
    # were not stored with them: they are now.
    extra = await (ReceiptLeaf.filter(site_id=site_id, position__gte=frontier.size)
                   .using_db(conn).order_by("position").values_list("position", "leaf_hash"))
    nodes: list[tuple[int, int, bytes]] = []
    for position, hashed in extra:
        if position != frontier.size:
            raise RuntimeError(f"site {site_id}: tree position {frontier.size} is missing")
        frontier.append(bytes.fromhex(str(hashed)), nodes)
    await db.dialect().append_nodes(conn, tree_store.kept(site_id, nodes))
    return _Growing(site_id, last, frontier)


async def take_checkpoints(signer: Signer) -> list[CheckpointView]:
    """Append the receipts stored since the last run and sign a checkpoint of each site whose
    tree grew. [] when there was nothing new, or another process is doing it."""
    dialect = db.dialect()
    top = await dialect.settled_top()
    fixed_at = utcnow()  # every receipt up to ``top`` is in; later ones take greater ids
    async with in_transaction() as conn:
        if not await dialect.claim_signer(conn):
            return []
        rows = await conn.execute_query_dict("SELECT max(receipt_pk) AS last FROM receipt_leaf")
        cursor = int(rows[0]["last"] or 0)
        trees: dict[int, _Growing] = {}
        while cursor < top:
            upto = min(top, cursor + _PAGE)
            for site_id in await dialect.sites_between(conn, cursor, upto):
                if site_id not in trees:
                    trees[site_id] = await _open_tree(conn, site_id)
            # The database reads the receipts, hashes them and writes the leaves, from each
            # tree's size; the leaf hashes come back for the frontiers, and with them the
            # subtrees to keep.
            page = await dialect.append_stored(
                conn, cursor, upto, {s: tree.frontier.size for s, tree in trees.items()})
            page.sort()  # by site, then position
            kept = []
            for site_id, leaves in itertools.groupby(page, key=lambda leaf: leaf[0]):
                tree = trees[site_id]
                nodes: list[tuple[int, int, bytes]] = []
                for _, position, _, hashed in leaves:
                    if position != tree.frontier.size:
                        raise RuntimeError(f"site {site_id}: tree position"
                                           f" {tree.frontier.size} is missing (the run"
                                           f" appended {position})")
                    tree.frontier.append(hashed, nodes)
                kept.extend(tree_store.kept(site_id, nodes))
            await dialect.append_nodes(conn, kept)
            cursor = upto
        trees = {s: tree for s, tree in trees.items() if tree.grew}
        if not trees:
            return []
        keys = dict(await Site.filter(id__in=list(trees)).using_db(conn).values_list("id", "key"))
        made = []
        for site_id, tree in sorted(trees.items()):
            made.append(await _sign(conn, signer, tree, str(keys[site_id]), fixed_at))
    return made


async def _sign(
    conn: BaseDBAsyncClient, signer: Signer, tree: _Growing, site_key: str, fixed_at: datetime
) -> CheckpointView:
    previous = body_hash(tree.last.body.encode()) if tree.last is not None else ""
    body = CheckpointBody(site_key, tree.frontier.size, tree.frontier.root().hex(),
                          rfc3339(fixed_at),
                          signer.key_id, previous)
    encoded = body.encode()
    row = await Checkpoint.create(
        using_db=conn, site_id=tree.site_id, tree_size=body.size, root_hash=body.root,
        signed_at=fixed_at, key_id=signer.key_id, previous_hash=previous,
        body=encoded.decode(), signature=base64.b64encode(signer.sign(encoded)).decode(),
        frontier=json.dumps([h.hex() for h in tree.frontier.hashes]),
    )
    return CheckpointView.of(row, site_key)


async def run_checkpoints(
    key_path: Path, witnesses: Sequence[str] = (), latest_file: Path | None = None
) -> list[CheckpointView]:
    """One scheduled run: without a usable key, say how to make one and sign nothing. What
    is signed goes to the witnesses and the latest-checkpoint file (``witness``)."""
    from .witness import publish

    try:
        signer = await load_signer(key_path)
    except SigningKeyProblem as exc:
        log.warning("no checkpoints signed: %s", exc.detail)
        return []
    made = await take_checkpoints(signer)
    await publish(made, witnesses, latest_file)
    return made


async def latest_checkpoint(site: Site) -> CheckpointView:
    row = await Checkpoint.filter(site_id=site.id).order_by("-tree_size").first()
    if row is None:
        raise CheckpointNotFound("this site has no checkpoint yet")
    return CheckpointView.of(row, site.key)


async def checkpoint_of_size(site: Site, size: int) -> CheckpointView:
    row = await Checkpoint.filter(site_id=site.id, tree_size=size).first()
    if row is None:
        raise CheckpointNotFound(f"no checkpoint of tree size {size}")
    return CheckpointView.of(row, site.key)


async def checkpoints_between(site: Site, first: int, last: int) -> list[CheckpointView]:
    """The site's checkpoints from the last one of at most ``first`` leaves to the first one
    of at least ``last`` leaves (all of them between), oldest first."""
    before = await (Checkpoint.filter(site_id=site.id, tree_size__lte=first)
                    .order_by("-tree_size").first())
    query = Checkpoint.filter(site_id=site.id)
    if before is not None:
        query = query.filter(tree_size__gte=before.tree_size)
    rows = await query.order_by("tree_size")
    out = []
    for row in rows:
        out.append(CheckpointView.of(row, site.key))
        if row.tree_size >= last:
            break
    return out


async def leaf_hashes(site: Site, size: int) -> list[bytes]:
    """The first ``size`` leaf hashes of the site's tree."""
    hashes: list[bytes] = []
    while len(hashes) < size:
        page = await (ReceiptLeaf.filter(site_id=site.id, position__gte=len(hashes),
                                         position__lt=size)
                      .order_by("position").limit(50_000).values_list("position", "leaf_hash"))
        if not page:
            break
        for position, hashed in page:
            if position != len(hashes):
                raise RuntimeError(f"tree position {len(hashes)} of {site.key} is missing")
            hashes.append(bytes.fromhex(str(hashed)))
    return hashes


@dataclass(frozen=True)
class ReceiptProof:
    """Where a receipt is in its site's tree, and the proof against the latest checkpoint
    (None while no checkpoint covers it yet)."""

    position: int | None
    leaf_hash: str | None
    checkpoint: CheckpointView | None
    proof: tuple[str, ...]

    def verifies(self, record_hash: str) -> bool:
        """Whether the receipt with ``record_hash`` is the one the checkpoint holds here."""
        if self.position is None or self.checkpoint is None:
            return False
        return verify_inclusion(
            self.position, self.checkpoint.tree_size, leaf_hash(bytes.fromhex(record_hash)),
            [bytes.fromhex(h) for h in self.proof], bytes.fromhex(self.checkpoint.root_hash))


async def receipt_proof(site: Site, receipt_id: UUID) -> ReceiptProof:
    receipt = await ConsentReceipt.filter(site_id=site.id, receipt_id=receipt_id).first()
    if receipt is None:
        raise ConsentNotFound("no such receipt")
    leaf = await ReceiptLeaf.filter(receipt_pk=receipt.id).first()
    if leaf is None:
        return ReceiptProof(None, None, None, ())
    try:
        checkpoint = await latest_checkpoint(site)
    except CheckpointNotFound:
        return ReceiptProof(leaf.position, leaf.leaf_hash, None, ())
    # The O(log n) stored subtrees the proof is made of, not the whole tree.
    proof = await tree_store.inclusion_proof(site.id, leaf.position, checkpoint.tree_size)
    return ReceiptProof(leaf.position, leaf.leaf_hash, checkpoint, tuple(h.hex() for h in proof))
