"""The evidence bundle (issue 21): a zip an outsider verifies offline with ``cmp-verify``.

It holds the receipts selected (one visitor's, or a period's), every config version they cite
with the exact texts shown per language, the checkpoints from the one before the first
receipt's position to the latest (each with the consistency proof from the one before), an
inclusion proof per receipt against the latest, the public keys and a README
(docs/contracts.md, "Evidence bundle"). ``write_evidence`` writes it a page of receipts at a
time, straight into the zip; ``verify-receipts`` writes one of the whole site and checks it
with the verifier's own code.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any
from uuid import UUID

from tortoise.expressions import Q

from cmp_verify.bundle import FORMAT
from cmp_verify.merkle import consistency_ranges

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
from . import audit, tree_store
from .checkpoints import CheckpointView, checkpoints_between, latest_checkpoint
from .export import EXPORT_FIELDS
from .publishing import parse_config, texts_for_language
from .signing import list_keys

__all__ = ["Selection", "Written", "export_bundle", "receipt_json", "write_evidence"]

if TYPE_CHECKING:
    from .staff import Actor

_CHUNK = 5000  # receipts a page, ids per IN list
_FIELDS = tuple(name for name in EXPORT_FIELDS if name != "site")


@dataclass(frozen=True)
class Selection:
    """One visitor (``consent_id``), or a period (``start`` to ``end``, either open)."""

    consent_id: UUID | None = None
    start: datetime | None = None
    end: datetime | None = None

    def holds(self, recorded_at: datetime) -> bool:
        """Whether a receipt of the site recorded then is selected (a period's)."""
        return ((self.start is None or recorded_at >= self.start)
                and (self.end is None or recorded_at < self.end))

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


def _selected(site: Site, selection: Selection) -> Any:
    query = ConsentReceipt.filter(site_id=site.id)
    if selection.consent_id is not None:
        query = query.filter(consent_id=selection.consent_id)
    if selection.start is not None:
        query = query.filter(recorded_at__gte=selection.start)
    if selection.end is not None:
        query = query.filter(recorded_at__lt=selection.end)
    return query


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


@dataclass
class Written:
    """What a bundle written holds (``write_evidence``)."""

    manifest: dict[str, Any]
    receipts: int = 0
    pending: int = 0  # stored after the last checkpoint: in the bundle, not proven yet
    checkpoints: int = 0
    first_position: int | None = None
    last_position: int | None = None
    versions: set[int] = field(default_factory=set)


class _Receipts:
    """The selected receipts, a page at a time in the order they were stored (which is the
    order of their tree positions), as the bundle writes them."""

    def __init__(self, site: Site, selection: Selection, tree_size: int, proofs: bool) -> None:
        self.site = site
        self.selection = selection
        self.tree_size = tree_size
        self.proofs = proofs  # an inclusion proof per receipt (not the whole tree)

    async def pages(self, written: Written) -> AsyncIterator[list[dict[str, Any]]]:
        # By windows of ids, not ``id > cursor ORDER BY id LIMIT``: without statistics (a
        # table just loaded) the planner read every later receipt of the site for each page.
        # A window widens while it finds few of the selected receipts (a small site among
        # big ones, a visitor) and narrows when it finds a page's worth.
        top = await ConsentReceipt.all().order_by("-id").limit(1).values_list("id")
        end = int(top[0][0]) if top else 0
        query = _selected(self.site, self.selection)
        cursor, window = 0, _CHUNK
        while cursor < end:
            rows = await (query.filter(id__gt=cursor, id__lte=cursor + window)
                          .order_by("id").limit(_CHUNK).values("id", *_FIELDS))
            if len(rows) == _CHUNK:
                cursor = rows[-1]["id"]
                window = max(_CHUNK, window // 2)
            else:
                cursor += window
                if len(rows) < _CHUNK // 4:
                    window = min(window * 2, 1 << 24)
            if rows:
                yield await self._page(rows, written)

    async def _page(self, rows: list[dict[str, Any]], written: Written) -> list[dict[str, Any]]:
        site = self.site
        positions = dict(await ReceiptLeaf.filter(receipt_pk__in=[r["id"] for r in rows])
                         .values_list("receipt_pk", "position"))
        # The hash a receipt chains from, when its predecessor is not among these: recorded
        # outside the period (a visitor's bundle and a whole site's hold every predecessor).
        outside: dict[Any, str] = {}
        if self.selection.consent_id is None and (self.selection.start or self.selection.end):
            wanted = [r["previous_receipt_id"] for r in rows if r["previous_receipt_id"]]
            bounds = Q()
            if self.selection.start is not None:
                bounds |= Q(recorded_at__lt=self.selection.start)
            if self.selection.end is not None:
                bounds |= Q(recorded_at__gte=self.selection.end)
            outside = dict(await ConsentReceipt.filter(bounds, site_id=site.id,
                                                       receipt_id__in=wanted)
                           .values_list("receipt_id", "record_hash"))
        # A receipt chained across sites before chains were per site (migration 0017): the
        # receipt before it on this site, and the hash its own record hash covers.
        repairs = {r.receipt_id: r for r in await ReceiptChainRepair.filter(
            site_id=site.id, receipt_id__in=[r["receipt_id"] for r in rows])}
        out = []
        for row in rows:
            receipt = {name: _value(row[name]) for name in _FIELDS}
            receipt["site"] = site.key
            if row["previous_receipt_id"] in outside:
                receipt["previous_record_hash"] = outside[row["previous_receipt_id"]]
            if (repair := repairs.get(row["receipt_id"])) is not None:
                before = repair.previous_receipt_id
                receipt["chain_repair"] = {
                    "previous_receipt_id": str(before) if before else None,
                    "linked_hash": repair.linked_hash,
                }
            position = positions.get(row["id"])
            written.receipts += 1
            written.versions.add(int(row["config_version"]))
            if position is not None:
                if written.first_position is None or position < written.first_position:
                    written.first_position = position
                if written.last_position is None or position > written.last_position:
                    written.last_position = position
            if position is not None and position < self.tree_size:
                receipt["tree_position"] = position
                if self.proofs:
                    receipt["inclusion_proof"] = [h.hex() for h in await tree_store.inclusion_proof(
                        site.id, position, self.tree_size)]
            else:
                receipt["tree_position"] = None
                written.pending += 1
            out.append(receipt)
        return out


async def _checkpoints(site: Site, first: int, size: int) -> list[dict[str, Any]]:
    """The checkpoints from the last one of at most ``first`` leaves to the latest, each with
    the consistency proof from the one before (read from the stored subtrees)."""
    entries = [view.as_json() for view in await checkpoints_between(site, first, size)]
    for start in range(0, len(entries), 200):  # a few statements for many checkpoints
        chunk = entries[start:start + 200]
        sizes = [(entries[start + i - 1]["tree_size"] if start + i else None, e["tree_size"])
                 for i, e in enumerate(chunk)]
        ranges = [consistency_ranges(old, new) if old is not None else [] for old, new in sizes]
        hashes = iter(await tree_store.range_hashes(site.id, [r for rs in ranges for r in rs]))
        for entry, wanted in zip(chunk, ranges, strict=True):
            entry["consistency_proof"] = [next(hashes).hex() for _ in wanted]
    return entries


async def _leaves(site: Site, size: int) -> AsyncIterator[str]:
    """The first ``size`` leaf hashes of the site's tree, as hex lines, a page at a time."""
    done = 0
    while done < size:
        page = await (ReceiptLeaf.filter(site_id=site.id, position__gte=done, position__lt=size)
                      .order_by("position").limit(50_000).values_list("position", "leaf_hash"))
        if not page:
            break
        lines = []
        for position, hashed in page:
            if position != done:
                break
            lines.append(f"{hashed}\n")
            done += 1
        yield "".join(lines)
        if len(lines) < len(page):
            break
    if done < size:
        raise RuntimeError(f"tree position {done} of {site.key} is missing; run verify-receipts")


async def write_evidence(
    site: Site, selection: Selection, out: IO[bytes], *, public_url: str, name: str,
    whole_tree: bool | None = None, compression: int = zipfile.ZIP_DEFLATED,
) -> Written:
    """Write the bundle of ``selection`` to ``out``, the receipts a page at a time (the zip
    is written as it goes: memory holds a page, not the site). ``whole_tree``: prove
    inclusion by every leaf of the tree rather than a proof per receipt (by default, when
    that is the smaller of the two)."""
    query = _selected(site, selection)
    count = await query.count()
    if selection.consent_id is not None and not count:
        raise ConsentNotFound(f"no receipts for consent id {selection.consent_id} on this site")
    try:
        latest: CheckpointView | None = await latest_checkpoint(site)
    except CheckpointNotFound:  # nothing proven yet: the receipts are pending
        latest = None
    size = latest.tree_size if latest is not None else 0
    if whole_tree is None:
        whole_tree = count * max(1, size.bit_length()) > size
    manifest = {
        "format": FORMAT, "site": site.key, "site_name": site.name,
        "created_at": rfc3339(utcnow()), "selection": selection.as_json(),
        "receipts": count, "tree_size": 0,
    }
    written = Written(manifest)
    with zipfile.ZipFile(out, "w", compression=compression) as zf:
        zf.writestr("README.txt", README.format(
            site_name=site.name, site=site.key, created_at=manifest["created_at"],
            selection=json.dumps(manifest["selection"]), public_url=public_url.rstrip("/"),
            name=name,
        ))
        source = _Receipts(site, selection, size, proofs=not whole_tree)
        with zf.open("receipts.jsonl", "w", force_zip64=True) as member:
            async for page in source.pages(written):
                member.write("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                     for r in page).encode())
            if (latest is not None and written.first_position is not None
                    and selection.consent_id is None and written.last_position is not None):
                async for absent in _absent(site, selection, written.first_position,
                                            written.last_position, written.receipts):
                    member.write((json.dumps(absent, ensure_ascii=False) + "\n").encode())
        entries: list[dict[str, Any]] = []
        if latest is not None and written.first_position is not None:
            entries = await _checkpoints(site, written.first_position, size)
        written.checkpoints = len(entries)
        manifest["tree_size"] = entries[-1]["tree_size"] if entries else 0
        zf.writestr("checkpoints.jsonl", "".join(
            json.dumps(c, ensure_ascii=False) + "\n" for c in entries))
        if whole_tree and entries:
            with zf.open("leaves.txt", "w", force_zip64=True) as member:
                async for lines in _leaves(site, size):
                    member.write(lines.encode())
        zf.writestr("configs.json", json.dumps(
            list((await _configs(site, written.versions)).values()), ensure_ascii=False,
            indent=1))
        zf.writestr("keys.json", json.dumps([
            {"key_id": k.key_id, "public_key": k.public_key, "fingerprint": k.fingerprint,
             "created_at": rfc3339(k.created_at),
             "retired_at": rfc3339(k.retired_at) if k.retired_at else None,
             "endorsed_by": k.endorsed_by, "endorsement": k.endorsement}
            for k in await list_keys()], indent=2))
        zf.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    return written


async def _absent(
    site: Site, selection: Selection, first: int, last: int, present: int
) -> AsyncIterator[dict[str, Any]]:
    """The positions of a period whose receipt is not in the bundle: recorded just outside
    the period (lanes and processes interleave their times), purged (a purge's cutoff is
    past its time) or missing, each with its leaf."""
    if last - first + 1 == present:
        return
    cutoffs = [p.cutoff for p in await PurgeLog.filter(site_id=site.id)]
    start = first
    while start <= last:
        leaves = await (ReceiptLeaf.filter(site_id=site.id, position__gte=start,
                                           position__lte=last)
                        .order_by("position").limit(_CHUNK))
        if not leaves:
            return
        start = leaves[-1].position + 1
        stored = dict(await ConsentReceipt.filter(
            id__in=[leaf.receipt_pk for leaf in leaves]).values_list("id", "recorded_at"))
        for leaf in leaves:
            at = stored.get(leaf.receipt_pk)
            if at is not None and selection.holds(at):
                continue  # in the bundle
            if at is not None:
                why = "outside"
            elif any(leaf.recorded_at < cutoff for cutoff in cutoffs):
                why = "purged"
            else:
                why = "missing"
            yield {"tree_position": leaf.position, "receipt_id": str(leaf.receipt_id),
                   "recorded_at": rfc3339(leaf.recorded_at), "leaf_hash": leaf.leaf_hash,
                   "absent": why}


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


async def export_bundle(
    site: Site, selection: Selection, out: IO[bytes], *, by: Actor | None, public_url: str,
    name: str,
) -> Written:
    """Write the bundle of ``selection`` to ``out``, on the audit log as an export of
    ``by`` (staff; None: the command line)."""
    written = await write_evidence(site, selection, out, public_url=public_url, name=name)
    await audit.record(by, "evidence.export", "consent_receipt", site=site, after={
        **selection.as_json(), "receipts": written.receipts,
        "tree_size": written.manifest["tree_size"],
    })
    return written
