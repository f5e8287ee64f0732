"""The evidence bundle (issue 21): a zip an outsider verifies offline with ``cmp-verify``.

It holds the receipts selected (one visitor's, or a period's), every config version they cite
with the exact texts shown per language, the checkpoints from the one before the first
receipt's position to the latest (each with the consistency proof from the one before), an
inclusion proof per receipt against the latest, the public keys and a README
(docs/contracts.md, "Evidence bundle"). ``collect`` gathers it; ``write_bundle`` writes it;
``verify-receipts`` checks what ``collect`` gives with the verifier's own code.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any
from uuid import UUID

from cmp_verify.bundle import FORMAT, Bundle
from cmp_verify.merkle import Tree

from .._utils import rfc3339, utcnow
from ..errors import CheckpointNotFound, ConsentNotFound
from ..models import (
    ConfigVersion,
    ConsentReceipt,
    PurgeLog,
    ReceiptChainRepair,
    ReceiptLeaf,
    Site,
)
from . import audit
from .checkpoints import checkpoints_between, latest_checkpoint, leaf_hashes
from .export import EXPORT_FIELDS
from .publishing import parse_config, texts_for_language
from .signing import list_keys

__all__ = ["Selection", "collect", "export_bundle", "write_bundle"]

if TYPE_CHECKING:
    from .staff import Actor

_CHUNK = 5000  # ids per IN list


@dataclass(frozen=True)
class Selection:
    """One visitor (``consent_id``), or a period (``start`` to ``end``, either open)."""

    consent_id: UUID | None = None
    start: datetime | None = None
    end: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        if self.consent_id is not None:
            return {"kind": "visitor", "consent_id": str(self.consent_id)}
        return {"kind": "period", "from": rfc3339(self.start) if self.start else None,
                "to": rfc3339(self.end) if self.end else None}


def _value(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return rfc3339(value)
    return value


def receipt_json(row: ConsentReceipt, site_key: str) -> dict[str, Any]:
    out = {name: _value(getattr(row, name)) for name in EXPORT_FIELDS if name != "site"}
    out["site"] = site_key
    return out


async def _receipts(site: Site, selection: Selection) -> list[ConsentReceipt]:
    query = ConsentReceipt.filter(site_id=site.id)
    if selection.consent_id is not None:
        query = query.filter(consent_id=selection.consent_id)
    if selection.start is not None:
        query = query.filter(recorded_at__gte=selection.start)
    if selection.end is not None:
        query = query.filter(recorded_at__lt=selection.end)
    rows = list(await query.order_by("id"))
    if selection.consent_id is not None and not rows:
        raise ConsentNotFound(f"no receipts for consent id {selection.consent_id} on this site")
    return rows


async def _in_chunks(model: Any, column: str, values: list[Any], **more: Any) -> list[Any]:
    found: list[Any] = []
    for i in range(0, len(values), _CHUNK):
        found.extend(await model.filter(**{f"{column}__in": values[i:i + _CHUNK]}, **more))
    return found


async def _configs(site: Site, versions: set[int]) -> dict[int, dict[str, Any]]:
    out = {}
    for version in await ConfigVersion.filter(site_id=site.id, number__in=sorted(versions)):
        config = parse_config(version)
        out[version.number] = {
            "version": version.number,
            "published_at": rfc3339(version.published_at),
            "content_hash": version.content_hash,
            "text_hashes": dict(version.text_hashes),
            # Exactly what a visitor reading each language was shown: a receipt's texts hash
            # is the hash of one of these.
            "texts": {lang: texts_for_language(config, lang) for lang in config.languages},
            "config": json.loads(version.canonical_json),
        }
    return out


async def collect(
    site: Site, selection: Selection, *, whole_tree: bool | None = None
) -> Bundle:
    """What a bundle of ``selection`` holds, read from the database. ``whole_tree``: prove
    inclusion by every leaf of the tree rather than a proof per receipt (by default, when
    that is the smaller of the two)."""
    rows = await _receipts(site, selection)
    receipts = [receipt_json(row, site.key) for row in rows]
    leaves = {leaf.receipt_pk: leaf for leaf in
              await _in_chunks(ReceiptLeaf, "receipt_pk", [r.id for r in rows])}
    # The hash a receipt chains from, when its predecessor is not among these.
    inside = {r.receipt_id for r in rows}
    outside = [r.previous_receipt_id for r in rows
               if r.previous_receipt_id is not None and r.previous_receipt_id not in inside]
    previous = {p.receipt_id: p.record_hash for p in
                await _in_chunks(ConsentReceipt, "receipt_id", outside, site_id=site.id)}
    for row, receipt in zip(rows, receipts, strict=True):
        if row.previous_receipt_id in previous:
            receipt["previous_record_hash"] = previous[row.previous_receipt_id]
    # A receipt chained across sites before chains were per site (migration 0017): the
    # receipt before it on this site, and the hash its own record hash covers.
    repairs = {r.receipt_id: r for r in
               await _in_chunks(ReceiptChainRepair, "receipt_id", [r.receipt_id for r in rows],
                                site_id=site.id)}
    for row, receipt in zip(rows, receipts, strict=True):
        if (repair := repairs.get(row.receipt_id)) is not None:
            before = repair.previous_receipt_id
            receipt["chain_repair"] = {
                "previous_receipt_id": str(before) if before else None,
                "linked_hash": repair.linked_hash,
            }

    checkpoints: list[dict[str, Any]] = []
    absent: list[dict[str, Any]] = []
    whole: list[bytes] | None = None
    positions = [leaves[r.id].position for r in rows if r.id in leaves]
    try:
        latest = await latest_checkpoint(site)
    except CheckpointNotFound:  # nothing proven yet: the receipts are pending
        latest = None
    if latest is not None and positions:
        tree = Tree(await leaf_hashes(site, latest.tree_size))
        views = await checkpoints_between(site, min(positions), latest.tree_size)
        before = None
        for view in views:
            entry = view.as_json()
            entry["consistency_proof"] = (
                [h.hex() for h in tree.consistency_proof(before, view.tree_size)]
                if before is not None else []
            )
            checkpoints.append(entry)
            before = view.tree_size
        if whole_tree is None:
            whole_tree = len(rows) * max(1, latest.tree_size.bit_length()) > latest.tree_size
        if whole_tree:
            whole = [tree.leaf(i) for i in range(latest.tree_size)]
        for row, receipt in zip(rows, receipts, strict=True):
            leaf = leaves.get(row.id)
            if leaf is not None and leaf.position < latest.tree_size:
                receipt["tree_position"] = leaf.position
                if not whole_tree:
                    receipt["inclusion_proof"] = [
                        h.hex() for h in tree.inclusion_proof(leaf.position, latest.tree_size)]
        if selection.consent_id is None:
            absent = await _absent(site, min(positions), max(positions), set(positions))
    for receipt in receipts:
        receipt.setdefault("tree_position", None)
    receipts.sort(key=lambda r: (r["tree_position"] is None, r["tree_position"] or 0))
    keys = [{"key_id": k.key_id, "public_key": k.public_key, "fingerprint": k.fingerprint,
             "created_at": rfc3339(k.created_at),
             "retired_at": rfc3339(k.retired_at) if k.retired_at else None,
             "endorsed_by": k.endorsed_by, "endorsement": k.endorsement}
            for k in await list_keys()]
    manifest = {
        "format": FORMAT, "site": site.key, "site_name": site.name,
        "created_at": rfc3339(utcnow()), "selection": selection.as_json(),
        "receipts": len(receipts),
        "tree_size": checkpoints[-1]["tree_size"] if checkpoints else 0,
    }
    versions = {int(r["config_version"]) for r in receipts}
    return Bundle(manifest, receipts, await _configs(site, versions), checkpoints, keys, absent,
                  whole)


async def _absent(
    site: Site, first: int, last: int, present: set[int]
) -> list[dict[str, Any]]:
    """The positions of a period whose receipt is gone: purged (a purge's cutoff is past its
    time) or missing, each with its leaf."""
    if last - first + 1 == len(present):
        return []
    cutoffs = [p.cutoff for p in await PurgeLog.filter(site_id=site.id)]
    leaves = [leaf for leaf in await ReceiptLeaf.filter(
        site_id=site.id, position__gte=first, position__lte=last) if leaf.position not in present]
    # Recorded just outside the period (lanes and processes interleave their times): there.
    stored = {pk for (pk,) in await _in_chunks_values([leaf.receipt_pk for leaf in leaves])}
    out = []
    for leaf in leaves:
        if leaf.receipt_pk in stored:
            why = "outside"
        elif any(leaf.recorded_at < cutoff for cutoff in cutoffs):
            why = "purged"
        else:
            why = "missing"
        out.append({"tree_position": leaf.position, "receipt_id": str(leaf.receipt_id),
                    "recorded_at": rfc3339(leaf.recorded_at), "leaf_hash": leaf.leaf_hash,
                    "absent": why})
    return out


async def _in_chunks_values(ids: list[int]) -> list[tuple[int]]:
    found: list[tuple[int]] = []
    for i in range(0, len(ids), _CHUNK):
        found.extend(await ConsentReceipt.filter(id__in=ids[i:i + _CHUNK]).values_list("id"))
    return found


README = """\
Evidence of consent: what this bundle holds and what each file proves
=====================================================================

Site: {site_name} (key {site}). Made {created_at}. Selection: {selection}.

receipts.jsonl    One consent receipt a line: when consent was given (recorded_at), how
                  (method, layer, page_url, every purpose's choice, refusals included), on
                  which banner version (config_version) in which language, and texts_hash,
                  the SHA-256 of exactly the words the visitor was shown. record_hash covers
                  every one of those fields and the visitor's previous receipt's hash, so no
                  field can change without it changing, and a visitor's receipts form a
                  chain. tree_position and inclusion_proof show that the receipt, exactly as
                  written here, is in the site's append-only log at that position.

configs.json      Every banner version the receipts cite, with the exact texts shown in each
                  language ("texts"): hashing a language's texts gives the receipts'
                  texts_hash, which proves what the visitor read.

checkpoints.jsonl Signed statements of the log: "the site's log held tree_size receipts with
                  this root hash at this time", signed with Ed25519. Each names the one before
                  by its hash and carries a proof that the earlier log is the start of the
                  later one: nothing was removed or rewritten in between. Anyone may have kept
                  copies of them from {public_url}/v1/sites/{site}/checkpoints.

leaves.txt        (In a bundle of many receipts, instead of a proof per receipt.) Every leaf
                  hash of the log up to the last checkpoint: hashing them into a tree gives
                  each checkpoint's root hash, and each receipt's record_hash gives the leaf
                  at its tree_position.

keys.json         The public keys that signed the checkpoints, with fingerprints. A key
                  after the first is introduced by a signature of the key before it. Compare
                  the fingerprints with {public_url}/v1/keys, or a copy kept by a third party.

Check it with `cmp-verify {name}` (Python 3.11+ and the `cryptography` package; no database,
no network). It recomputes every hash, chain, proof and signature and says what is proven,
for which period, signed by which key, or names the receipt and the check that failed.
"""


def write_bundle(bundle: Bundle, out: IO[bytes], *, public_url: str, name: str) -> None:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        m = bundle.manifest
        zf.writestr("README.txt", README.format(
            site_name=m.get("site_name"), site=m["site"], created_at=m["created_at"],
            selection=json.dumps(m["selection"]), public_url=public_url.rstrip("/"),
            name=name,
        ))
        zf.writestr("manifest.json", json.dumps(m, indent=2, ensure_ascii=False))
        zf.writestr("receipts.jsonl", "".join(
            json.dumps(r, ensure_ascii=False) + "\n" for r in [*bundle.receipts, *bundle.absent]
        ))
        zf.writestr("configs.json", json.dumps(list(bundle.configs.values()),
                                               ensure_ascii=False, indent=1))
        zf.writestr("checkpoints.jsonl", "".join(
            json.dumps(c, ensure_ascii=False) + "\n" for c in bundle.checkpoints))
        zf.writestr("keys.json", json.dumps(bundle.keys, indent=2))
        if bundle.leaves is not None:
            zf.writestr("leaves.txt", "".join(leaf.hex() + "\n" for leaf in bundle.leaves))


async def export_bundle(
    site: Site, selection: Selection, out: IO[bytes], *, by: Actor | None, public_url: str,
    name: str,
) -> Bundle:
    """Write the bundle of ``selection`` to ``out``, on the audit log as an export of
    ``by`` (staff; None: the command line)."""
    bundle = await collect(site, selection)
    await audit.record(by, "evidence.export", "consent_receipt", site=site, after={
        **selection.as_json(), "receipts": len(bundle.receipts),
        "tree_size": bundle.manifest["tree_size"],
    })
    write_bundle(bundle, out, public_url=public_url, name=name)
    return bundle
