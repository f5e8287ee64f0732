"""A site's Merkle tree as stored: its leaves (``ReceiptLeaf``) and the hashes of its complete
subtrees at every ``STRIDE``-th level (``TreeNode``), so that a proof reads O(log n) rows
rather than every leaf (issue 21).

A proof is the hashes of a few leaf ranges (``cmp_verify.merkle.inclusion_ranges``,
``consistency_ranges``); a range is one or a few complete subtrees (``complete_parts``); a
complete subtree of level l is a stored node when l is a multiple of ``STRIDE``, otherwise the
2**(l mod STRIDE) stored nodes (or leaves) under it, at most 8: a proof of a tree of 2**k
leaves reads at most 8k rows, in two statements.
"""

from __future__ import annotations

from collections.abc import Sequence

from cmp_verify.merkle import (
    EMPTY_ROOT,
    complete_parts,
    consistency_ranges,
    fold,
    inclusion_ranges,
    node_hash,
)

from ..dialects import NodeRow
from ..models import ReceiptLeaf, TreeNode

__all__ = ["STRIDE", "consistency_proof", "inclusion_proof", "kept", "range_hashes", "root"]

STRIDE = 4


def kept(site_id: int, nodes: Sequence[tuple[int, int, bytes]]) -> list[NodeRow]:
    """Of the subtrees a frontier completed (level, index, hash), those that are stored."""
    return [(site_id, level, index, hashed.hex()) for level, index, hashed in nodes
            if level % STRIDE == 0]


def _pieces(start: int, level: int) -> tuple[int, int, int]:
    """The stored rows a complete subtree is made of: (level, first index, count); level 0
    means leaves."""
    base = level - level % STRIDE
    return base, start >> base, 1 << (level - base)


def _reduce(hashes: list[bytes]) -> bytes:
    while len(hashes) > 1:
        hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


async def range_hashes(site_id: int, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    """The subtree hash of each leaf range (start, end exclusive) of the site's tree."""
    parts = [complete_parts(start, end) for start, end in ranges]
    wanted: dict[int, set[int]] = {}
    for each in parts:
        for start, level in each:
            base, first, count = _pieces(start, level)
            wanted.setdefault(base, set()).update(range(first, first + count))
    found: dict[tuple[int, int], bytes] = {}
    if 0 in wanted:
        for position, hashed in await ReceiptLeaf.filter(
                site_id=site_id, position__in=sorted(wanted.pop(0))).values_list(
                "position", "leaf_hash"):
            found[0, int(position)] = bytes.fromhex(str(hashed))
    for level, indexes in wanted.items():
        for index, hashed in await TreeNode.filter(
                site_id=site_id, level=level, node_index__in=sorted(indexes)).values_list(
                "node_index", "hash"):
            found[level, int(index)] = bytes.fromhex(str(hashed))
    out = []
    for each in parts:
        hashes = []
        for start, level in each:
            base, first, count = _pieces(start, level)
            try:
                hashes.append(_reduce([found[base, i] for i in range(first, first + count)]))
            except KeyError as exc:
                raise RuntimeError(f"site {site_id}: the stored tree lacks"
                                   f" {'leaf' if base == 0 else f'level {base} node'}"
                                   f" {exc.args[0][1]}; run verify-receipts") from None
        out.append(fold(hashes))
    return out


async def inclusion_proof(site_id: int, index: int, size: int) -> list[bytes]:
    return await range_hashes(site_id, inclusion_ranges(index, size))


async def consistency_proof(site_id: int, old_size: int, size: int) -> list[bytes]:
    return await range_hashes(site_id, consistency_ranges(old_size, size))


async def root(site_id: int, size: int) -> bytes:
    return EMPTY_ROOT if size == 0 else (await range_hashes(site_id, [(0, size)]))[0]
