"""The receipts' checks (``bundle.verify``), made in one pass over ``receipts.jsonl``, a line at
a time, by one process or several side by side.

Each process takes the visitors of one shard (a hash of the consent id) and checks their
receipts: the record hash, the visitor's chain, the texts shown, the tree position and its
inclusion, and backdating. Memory is what a visitor's chain needs to go on (the last receipt's
id and hash) and the tree's leaf hashes (32 bytes each), not the receipts.

The bundle writes the receipts in the order of their tree positions, those not yet in a
checkpoint anywhere among them: a visitor's receipts with positions come in that order, and
one out of it is a bundle-format failure. Receipts without a position are checked after the
others, in the order they were recorded (they come last in a visitor's chain).
"""

from __future__ import annotations

import bisect
import json
import zlib
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .merkle import leaf_hash, verify_inclusion
from .records import record_hash
from .report import (
    BACKDATED,
    CHAIN,
    FORMAT_CHECK,
    INCLUSION,
    POSITION,
    RECORD,
    TEXTS,
    Problem,
)

__all__ = ["BACKDATE_SLACK", "Context", "Partial", "check_lines", "shard_of"]

# A receipt is stored a moment after its time is taken (a batch, a retry): one recorded this
# long before the checkpoint preceding its position was put in late, behind the log's back.
BACKDATE_SLACK = timedelta(seconds=60)
_KEY = b'"consent_id": "'  # how the bundle writes it (json.dumps' separators)


@dataclass(frozen=True)
class Context:
    """What a process needs besides the lines: the checkpoints that verified and the texts'
    hashes (worked out once, in the process that starts the others)."""

    final_size: int
    final_root: bytes
    final_time: datetime | None
    bounds: list[tuple[int, datetime]]  # each verified checkpoint's size and time
    # (config version, language) -> the texts' hash; None: no such texts; absent: no version
    texts: dict[tuple[int, str], str | None]
    versions: frozenset[int]
    leaves: bytes | None  # every leaf hash of the last checkpoint's tree, 32 bytes each


@dataclass
class Partial:
    """One process's share of the report."""

    receipts: int = 0
    chains: int = 0
    proven: int = 0
    pending: int = 0
    first: str = ""
    last: str = ""
    problems: list[Problem] = field(default_factory=list)
    positions: array[int] = field(default_factory=lambda: array("q"))
    absent: list[dict[str, Any]] = field(default_factory=list)

    def add(self, subject: str, check: str, detail: str) -> None:
        self.problems.append(Problem(subject, check, detail))


def shard_of(consent_id: bytes, shards: int) -> int:
    return zlib.crc32(consent_id) % shards if shards > 1 else 0


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class _Chains:
    """Each visitor's chain so far: the last receipt's id and record hash."""

    def __init__(self, out: Partial) -> None:
        self.out = out
        self.last: dict[str, tuple[Any, str]] = {}

    def link(self, visitor: str, receipt: dict[str, Any]) -> None:
        out = self.out
        previous = self.last.get(visitor)
        if previous is None:
            out.chains += 1
        subject = f"receipt {receipt.get('receipt_id')}"
        link = receipt.get("previous_receipt_id")
        # Chained across sites before chains were per site: the repair names the receipt
        # before it on this site, and the hash its record hash was made over.
        repair = receipt.get("chain_repair")
        if isinstance(repair, dict):
            link = repair.get("previous_receipt_id")
        if previous is None:
            # The first here: its predecessor is outside the bundle (or purged); its hash then
            # comes with the receipt.
            prev_hash = str(receipt.get("previous_record_hash") or "")
            if link is None and prev_hash and not isinstance(repair, dict):
                out.add(subject, CHAIN, "a visitor's first receipt names a predecessor")
        else:
            prev_hash = previous[1]
            if link != previous[0]:
                out.add(subject, CHAIN, f"links to {link}, but the receipt before it"
                                        f" is {previous[0]}")
        if isinstance(repair, dict):
            prev_hash = str(repair.get("linked_hash") or "")
        try:
            ok = record_hash(receipt, prev_hash) == receipt.get("record_hash")
        except (KeyError, TypeError, ValueError, AttributeError):
            ok = False
        if not ok:
            out.add(subject, RECORD, "its fields do not give its record hash")
        self.last[visitor] = (receipt.get("receipt_id"), str(receipt.get("record_hash")))


def _texts(ctx: Context, receipt: dict[str, Any], out: Partial, subject: str) -> None:
    try:
        version = int(receipt.get("config_version", -1))
    except (TypeError, ValueError):
        version = -1
    language = str(receipt.get("language"))
    if version not in ctx.versions:
        out.add(subject, TEXTS, f"config version {receipt.get('config_version')} is not"
                                " in the bundle")
        return
    shown = ctx.texts.get((version, language))
    if shown is None:
        out.add(subject, TEXTS, f"version {version} has no texts in {language}")
    elif shown != receipt.get("texts_hash"):
        out.add(subject, TEXTS, f"the texts of version {version} in {language}"
                                " are not the texts this receipt was given on")


def _included(ctx: Context, receipt: dict[str, Any], position: int) -> bool:
    try:
        leaf = leaf_hash(bytes.fromhex(str(receipt.get("record_hash"))))
    except ValueError:
        return False
    if ctx.leaves is not None:
        return ctx.leaves[32 * position:32 * position + 32] == leaf
    try:
        proof = [bytes.fromhex(str(h)) for h in receipt.get("inclusion_proof", [])]
    except (ValueError, TypeError):
        return False
    return verify_inclusion(position, ctx.final_size, leaf, proof, ctx.final_root)


def check_lines(lines: Iterable[bytes], shard: int, shards: int, ctx: Context) -> Partial:
    """Check the receipts of the visitors of ``shard`` (of ``shards``) among ``lines``."""
    out = Partial()
    chains = _Chains(out)
    sizes = [size for size, _ in ctx.bounds]
    seen = [-1]  # the greatest tree position so far (the file is in their order)
    later: list[tuple[str, str, dict[str, Any]]] = []  # no position: after the others
    for line in lines:
        at = line.find(_KEY)
        if at >= 0:
            end = line.find(b'"', at + len(_KEY))
            routed = shard_of(line[at + len(_KEY):end], shards)
            if routed != shard:
                continue
        try:
            receipt = json.loads(line)
        except ValueError as exc:
            if shard == 0 or at >= 0:
                out.add("receipts.jsonl", FORMAT_CHECK, f"a line is not JSON: {exc}")
            continue
        if not isinstance(receipt, dict):
            if shard == 0:
                out.add("receipts.jsonl", FORMAT_CHECK, "a line is not a JSON object")
            continue
        if "absent" in receipt:
            if shard == 0:
                out.absent.append(receipt)
            continue
        visitor = str(receipt.get("consent_id"))
        if shard_of(visitor.encode(), shards) != shard:
            if at >= 0:  # written so that its visitor's shard cannot be told from the line
                out.add(f"receipt {receipt.get('receipt_id')}", FORMAT_CHECK,
                        "its consent id is not the first one written on its line")
            continue
        _receipt(ctx, receipt, visitor, out, chains, sizes, seen, later)
    later.sort(key=lambda entry: entry[0])
    for _, visitor, receipt in later:
        chains.link(visitor, receipt)
    return out


def _receipt(
    ctx: Context, receipt: dict[str, Any], visitor: str, out: Partial, chains: _Chains,
    sizes: list[int], seen: list[int],
    later: list[tuple[str, str, dict[str, Any]]],
) -> None:
    out.receipts += 1
    subject = f"receipt {receipt.get('receipt_id')}"
    times = str(receipt.get("recorded_at", ""))
    out.first = min(out.first or times, times)
    out.last = max(out.last, times)
    _texts(ctx, receipt, out, subject)
    position = receipt.get("tree_position")
    if position is None:
        later.append((times, visitor, receipt))
    elif not isinstance(position, int) or isinstance(position, bool) or position < 0:
        out.add(subject, POSITION, f"tree position {position} is not a number")
        later.append((times, visitor, receipt))
        return
    else:
        chains.link(visitor, receipt)
    try:
        recorded = _time(times)
    except ValueError:
        out.add(subject, BACKDATED, f"recorded_at {times!r} is not a time")
        return
    if position is None or ctx.final_time is None or position >= ctx.final_size:
        out.pending += 1
        if ctx.final_time is not None and recorded < ctx.final_time - BACKDATE_SLACK:
            out.add(subject, BACKDATED, f"recorded {times}, before checkpoint"
                                        f" {ctx.final_size} was signed, but not in it")
        return
    if position == seen[0]:
        out.add(subject, POSITION, f"tree position {position} given twice")
        return
    if position < seen[0]:
        out.add(subject, FORMAT_CHECK, f"tree position {position} comes after {seen[0]}")
    seen[0] = max(seen[0], position)
    out.positions.append(position)
    if not _included(ctx, receipt, position):
        out.add(subject, INCLUSION, f"not the receipt checkpoint {ctx.final_size} holds at"
                                    f" position {position}")
    else:
        out.proven += 1
    preceding = bisect.bisect_right(sizes, position)  # checkpoints of at most that size
    if preceding and recorded < ctx.bounds[preceding - 1][1] - BACKDATE_SLACK:
        out.add(subject, BACKDATED, f"recorded {times}, but put at position {position},"
                                    f" after a checkpoint of"
                                    f" {ctx.bounds[preceding - 1][1].isoformat()}")
