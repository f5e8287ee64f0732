"""RFC 6962 / RFC 9162 Merkle trees: leaf and node hashes, inclusion and consistency proofs,
and their verification. Standard library only (the offline verifier shares it).

A tree's leaves are hashed as ``SHA-256(0x00 || data)``, its interior nodes as
``SHA-256(0x01 || left || right)``; the tree of ``n`` leaves splits at the largest power of two
below ``n`` (RFC 9162, 2.1.1). The empty tree's root is ``SHA-256("")``.

>>> tree = Tree([leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")])
>>> verify_inclusion(2, 3, leaf_hash(b"c"), tree.inclusion_proof(2), tree.root())
True

Written here rather than taken from PyPI: the verifier a regulator runs may depend on nothing
but the standard library and ``cryptography``, and these are the RFC's few functions, held to
the published test vectors (``tests/test_merkle.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = [
    "EMPTY_ROOT",
    "Frontier",
    "Tree",
    "complete_parts",
    "consistency_ranges",
    "fold",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
]

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1): where the tree of n leaves splits."""
    return 1 << ((n - 1).bit_length() - 1)


class Tree:
    """A tree over leaf hashes held in memory, with every complete subtree's hash computed
    once, so that a root, an inclusion proof or a consistency proof of any prefix costs
    O(log² n) lookups."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self._levels: list[list[bytes]] = [list(leaves)]
        level = self._levels[0]
        while len(level) > 1:
            level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            self._levels.append(level)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def leaf(self, index: int) -> bytes:
        return self._levels[0][index]

    def _hash(self, start: int, end: int) -> bytes:
        """The root of the subtree over leaves ``start`` to ``end`` (exclusive)."""
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:  # a complete subtree: computed already
            return self._levels[n.bit_length() - 1][start // n]
        k = _split(n)
        return node_hash(self._hash(start, start + k), self._hash(start + k, end))

    def _check(self, size: int | None) -> int:
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ValueError(f"tree size {size} is not between 0 and {self.size}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """The root of the first ``size`` leaves (all of them by default)."""
        size = self._check(size)
        return EMPTY_ROOT if size == 0 else self._hash(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 2.1.3.1: the audit path of leaf ``index`` in the tree of ``size`` leaves,
        nearest the leaf first."""
        size = self._check(size)
        return [self._hash(s, e) for s, e in inclusion_ranges(index, size)]

    def consistency_proof(self, old_size: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 2.1.4.1: proof that the tree of ``old_size`` leaves is a prefix of the tree
        of ``size`` leaves. Empty when ``old_size`` is 0 or equals ``size``."""
        size = self._check(size)
        return [self._hash(s, e) for s, e in consistency_ranges(old_size, size)]


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges (start, end exclusive) whose subtree hashes make the audit path of leaf
    ``index`` in the tree of ``size`` leaves, nearest the leaf first (RFC 9162 2.1.3.1)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose subtree hashes make the consistency proof from ``old_size`` to
    ``size`` (RFC 9162 2.1.4.1); none when ``old_size`` is 0 or ``size``."""
    if not 0 <= old_size <= size:
        raise ValueError(f"tree size {old_size} is not between 0 and {size}")
    if old_size in (0, size):
        return []
    ranges: list[tuple[int, int]] = []
    start, end, m, whole = 0, size, old_size, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def complete_parts(start: int, end: int) -> list[tuple[int, int]]:
    """The complete subtrees (start, level: 2**level leaves) whose hashes make the hash of the
    range, left to right: ``fold`` combines them into it. A range of a tree's proof is one
    complete subtree, or (on the right edge) a few."""
    parts: list[tuple[int, int]] = []
    while end > start:
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            parts.append((start, n.bit_length() - 1))
            break
        k = _split(n)
        parts.append((start, k.bit_length() - 1))  # the left part of a split is complete
        start += k
    return parts


def fold(hashes: Sequence[bytes]) -> bytes:
    """The hash of a range from its ``complete_parts``' hashes: each part is the left child
    of the rest (the tree splits at the largest power of two)."""
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = node_hash(left, root)
    return root


class Frontier:
    """The right edge of a tree: the roots of its complete subtrees, largest first (one per set
    bit of its size). Enough to append leaves and compute the root without the leaves
    themselves: a checkpoint keeps its frontier, the next one goes on from it."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != size.bit_count():
            raise ValueError(f"a tree of {size} leaves has {size.bit_count()} frontier hashes")
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf: bytes, nodes: list[tuple[int, int, bytes]] | None = None) -> None:
        """Add a leaf hash; ``nodes``: gets each complete subtree the leaf completes, as
        (level, index, hash): the subtree of the 2**level leaves from index * 2**level."""
        merged, n, level = leaf, self.size, 0
        while n & 1:
            merged = node_hash(self.hashes.pop(), merged)
            n >>= 1
            level += 1
            if nodes is not None:
                nodes.append((level, self.size >> level, merged))
        self.hashes.append(merged)
        self.size += 1

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            root = node_hash(left, root)
        return root


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: whether ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree
    of ``size`` leaves whose root is ``root``."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, size: int, proof: Sequence[bytes], old_root: bytes, root: bytes
) -> bool:
    """RFC 9162 2.1.4.2: whether ``proof`` shows the tree of ``old_size`` leaves with root
    ``old_root`` to be a prefix of the tree of ``size`` leaves with root ``root``."""
    if not 0 <= old_size <= size:
        return False
    if old_size == size:
        return not proof and old_root == root
    if old_size == 0:
        return not proof  # the empty tree is a prefix of every tree
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a node of the path
        path.insert(0, old_root)
    fn, sn = old_size - 1, size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == root
