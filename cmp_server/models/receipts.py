"""Consent receipts and their proof: chains, Merkle leaves and subtrees, signing keys,
checkpoints, the daily counters and the purge log.

Receipts are append-only: no code path updates one; only the retention purge deletes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from .sites import Site

__all__ = [
    "Checkpoint",
    "ConsentDaily",
    "ConsentReceipt",
    "PurgeLog",
    "ReceiptChainRepair",
    "ReceiptLeaf",
    "SigningKey",
    "TreeNode",
]


class ConsentReceipt(Model):
    id = fields.BigIntField(primary_key=True)
    site_id: int
    receipt_id = fields.UUIDField(unique=True)
    consent_id = fields.UUIDField()
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="receipts", on_delete=fields.RESTRICT
    )
    config_version = fields.IntField()
    texts_hash = fields.CharField(max_length=64)
    language = fields.CharField(max_length=8)
    choices: fields.Field[dict[str, bool]] = fields.JSONField()
    method = fields.CharField(max_length=16)  # accept_all | reject_all | custom | withdraw | gpc
    layer = fields.CharField(max_length=8)  # first | second
    page_url = fields.TextField()
    recorded_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    user_agent = fields.TextField()
    ip_truncated = fields.CharField(max_length=64, null=True)
    previous_receipt_id = fields.UUIDField(null=True)
    # sha256 of what the client sent: the same receipt id with other content is a conflict.
    content_hash = fields.CharField(max_length=64)
    # sha256 over the previous receipt's record_hash and this record: a chain per site and
    # visitor (per visitor alone before migration 0017: see ReceiptChainRepair).
    record_hash = fields.CharField(max_length=64)

    class Meta:
        table = "consent_receipt"
        # (site_id, consent_id, id): a visitor's receipts on a site in order, and the last one
        # found without walking the primary key (what the receipt writer checks before each
        # insert).
        indexes = (
            Index(fields=("site_id", "recorded_at")),
            Index(fields=("site_id", "consent_id", "id")),
        )

class ReceiptChainRepair(Model):
    """A receipt chained across sites before 0017, and its predecessor on its own site."""

    # Append-only, like the receipts (migration 0017): a receipt stored before chains were per
    # site may link to the visitor's receipt on another site, and its record hash covers that
    # receipt's hash. Receipts are never rewritten, so this row says which receipt precedes it
    # on its own site, and the hash it was chained over, as both stood when 0017 ran.
    id = fields.BigIntField(primary_key=True)
    receipt_id = fields.UUIDField(unique=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="chain_repairs", on_delete=fields.CASCADE
    )
    site_id: int
    # The receipt before it on its own site (None: its first there).
    previous_receipt_id = fields.UUIDField(null=True)
    # The record hash of the receipt its stored link names: what its own hash covers.
    linked_hash = fields.CharField(max_length=64)
    repaired_at = fields.DatetimeField()

    class Meta:
        table = "receipt_chain_repair"

class ReceiptLeaf(Model):
    """A receipt's place in its site's Merkle tree (``services/checkpoints.py``): positions from
    0, in the order the receipts were stored, each assigned once and never changed (UPDATE is
    refused, migration 0018). The leaf outlives its receipt: the retention purge deletes
    receipts, not the tree they are part of."""

    id = fields.BigIntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="leaves", on_delete=fields.RESTRICT
    )
    site_id: int
    position = fields.BigIntField()
    # consent_receipt.id, without a foreign key: the purge may delete the receipt.
    receipt_pk = fields.BigIntField(unique=True)
    receipt_id = fields.UUIDField()
    recorded_at = fields.DatetimeField()
    leaf_hash = fields.CharField(max_length=64)  # RFC 6962: SHA-256(0x00 || record hash)

    class Meta:
        table = "receipt_leaf"
        unique_together = (("site", "position"),)

class TreeNode(Model):
    """A complete subtree of a site's Merkle tree: the hash of the 2**level leaves from
    position node_index * 2**level (``services/tree_store.py``). Only every ``STRIDE``-th level
    is kept (4, 8, 12, ...: one row per 15 leaves); any other subtree is a few of these, or
    of the leaves, hashed together, so a proof reads O(log n) rows. Written with the leaves
    by the checkpoint run, never changed (migration 0022)."""

    id = fields.BigIntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="tree_nodes", on_delete=fields.RESTRICT
    )
    site_id: int
    level = fields.SmallIntField()
    node_index = fields.BigIntField()
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "tree_node"
        unique_together = (("site", "level", "node_index"),)

class SigningKey(Model):
    """A checkpoint signing key's public half (the private half lives in a file, never here).
    A key after the first carries the previous key's signature over its statement."""

    key_id = fields.CharField(max_length=16, primary_key=True)
    public_key = fields.CharField(max_length=64)  # base64 of the 32 raw bytes
    created_at = fields.DatetimeField()
    retired_at = fields.DatetimeField(null=True)
    endorsed_by = fields.CharField(max_length=16, default="")
    endorsement = fields.CharField(max_length=100, default="")  # base64 Ed25519 signature

    class Meta:
        table = "signing_key"

class Checkpoint(Model):
    """A signed statement of a site's tree: its size and root at a time (``cmp_verify.
    checkpoint`` has the format). Append-only; each names the one before by its hash."""

    id = fields.BigIntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="checkpoints", on_delete=fields.RESTRICT
    )
    site_id: int
    tree_size = fields.BigIntField()
    root_hash = fields.CharField(max_length=64)
    signed_at = fields.DatetimeField()
    key_id = fields.CharField(max_length=16)
    previous_hash = fields.CharField(max_length=64)  # "" for the site's first
    body = fields.TextField()  # the exact signed bytes, UTF-8
    signature = fields.CharField(max_length=100)  # base64
    # The tree's right edge at this size (hex, JSON list): where the next checkpoint goes on
    # from. Not signed; checked against the root whenever it is used.
    frontier = fields.TextField()

    class Meta:
        table = "checkpoint"
        unique_together = (("site", "tree_size"), ("site", "previous_hash"))

class ConsentDaily(Model):
    """Consent receipts counted per site, UTC day, method and purpose (services/counters.py)."""

    id = fields.BigIntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="consent_counts", on_delete=fields.CASCADE
    )
    site_id: int
    day = fields.DateField()
    method = fields.CharField(max_length=16)
    # '': the method's receipts; a purpose key: the receipts that decided on that purpose.
    purpose = fields.CharField(max_length=40, default="")
    receipts = fields.IntField(default=0)
    granted = fields.IntField(default=0)  # of those, the ones that granted the purpose

    class Meta:
        table = "consent_daily"
        # The upsert's conflict target, and the index every read of the chart uses.
        unique_together = (("site", "purpose", "day", "method"),)

class PurgeLog(Model):
    id = fields.IntField(primary_key=True)
    site: fields.ForeignKeyNullableRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="purges", null=True, on_delete=fields.SET_NULL
    )
    cutoff = fields.DatetimeField()
    deleted = fields.IntField()
    trigger = fields.CharField(max_length=16)  # cli | schedule
    ran_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "purge_log"


# Model docstrings become table comments; Tortoise's SQLite migrator splits on ";", so keep
# them to one plain sentence.
