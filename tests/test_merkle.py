"""The RFC 6962 / 9162 tree against the published test vectors (transparency-dev/merkle's
``testonly/constants.go`` and ``proof/verify_test.go``, the certificate-transparency reference
values) and against corrupted proofs."""

from __future__ import annotations

import hashlib
import random

import pytest

from cmp_verify.merkle import (
    EMPTY_ROOT,
    Frontier,
    Tree,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]
ROOTS = [bytes.fromhex(h) for h in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
LEAF_HASHES = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
)]


def _h(*hexes: str) -> list[bytes]:
    return [bytes.fromhex(h) for h in hexes]


# (leaf index from 0, tree size, audit path): verify_test.go's inclusionProofs (1-based there).
INCLUSION = [
    (0, 1, []),
    (0, 8, _h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
              "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
              "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")),
    (5, 8, _h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
              "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
              "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
    (2, 3, _h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (1, 5, _h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
              "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
              "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")),
]

# (old size, size, proof): verify_test.go's consistencyProofs.
CONSISTENCY = [
    (1, 1, []),
    (1, 8, _h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
              "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
              "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")),
    (6, 8, _h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
              "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
              "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
    (2, 5, _h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
              "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")),
    (6, 7, _h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
              "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
              "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
]

TREE = Tree([leaf_hash(data) for data in LEAVES])
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def test_leaf_and_node_hashes_and_every_root_match_the_vectors() -> None:
    assert [leaf_hash(d) for d in LEAVES] == LEAF_HASHES
    assert EMPTY_ROOT == hashlib.sha256(b"").digest() == ROOTS[0]
    assert node_hash(LEAF_HASHES[0], LEAF_HASHES[1]) == ROOTS[2]
    assert [TREE.root(size) for size in range(9)] == ROOTS


def test_the_frontier_gives_every_root_leaf_by_leaf() -> None:
    frontier = Frontier()
    assert frontier.root() == ROOTS[0]
    for size, leaf in enumerate(LEAF_HASHES, start=1):
        frontier.append(leaf)
        assert (frontier.size, frontier.root()) == (size, ROOTS[size])
        assert len(frontier.hashes) == size.bit_count()
    # Picked up again from what a checkpoint keeps.
    again = Frontier(5, TREE_FRONTIER_5)
    for leaf in LEAF_HASHES[5:]:
        again.append(leaf)
    assert again.root() == ROOTS[8]
    with pytest.raises(ValueError):
        Frontier(4, TREE_FRONTIER_5)


# constants.go's CompactTrees()[5]: {nh[2][0], nh[0][4]}
TREE_FRONTIER_5 = _h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                     "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proofs_match_the_vectors_and_verify(
    index: int, size: int, proof: list[bytes]
) -> None:
    assert TREE.inclusion_proof(index, size) == proof
    root, leaf = ROOTS[size], LEAF_HASHES[index]
    assert verify_inclusion(index, size, leaf, proof, root)
    # Each corruption of verify_test.go's corruptInclusionProof fails.
    wrong = [
        (index - 1, size, leaf, proof, root), (index + 1, size, leaf, proof, root),
        (index ^ 2, size, leaf, proof, root), (index, size * 2, leaf, proof, root),
        (index, size // 2, leaf, proof, root), (index, size, b"WrongLeaf", proof, root),
        (index, size, leaf, proof, EMPTY_ROOT), (index, size, leaf, proof, SOME_HASH),
        (index, size, leaf, [*proof, b""], root), (index, size, leaf, [*proof, root], root),
        (index, size, leaf, [b"", *proof], root), (index, size, leaf, [root, *proof], root),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        wrong.append((index, size, leaf, flipped, root))
    if proof:
        wrong.append((index, size, leaf, proof[:-1], root))
    if len(proof) > 1:
        wrong.append((index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], root))
    for case in wrong:
        assert not verify_inclusion(*case), case


@pytest.mark.parametrize(("old", "size", "proof"), CONSISTENCY)
def test_consistency_proofs_match_the_vectors_and_verify(
    old: int, size: int, proof: list[bytes]
) -> None:
    assert TREE.consistency_proof(old, size) == proof
    r1, r2 = ROOTS[old], ROOTS[size]
    assert verify_consistency(old, size, proof, r1, r2)
    if not proof:
        return
    wrong = [
        (old - 1, size, proof, r1, r2), (old + 1, size, proof, r1, r2),
        (old ^ 2, size, proof, r1, r2), (old, size * 2, proof, r1, r2),
        (old, size // 2, proof, r1, r2), (old, size, proof, b"WrongRoot", r2),
        (old, size, proof, r1, b"WrongRoot"), (old, size, proof, r2, r1),
        (old, size, [], r1, r2), (old, size, [*proof, b""], r1, r2),
        (old, size, [*proof, r1], r1, r2), (old, size, [*proof, r2], r1, r2),
        (old, size, [b"", *proof], r1, r2), (old, size, [r1, *proof], r1, r2),
        (old, size, [r2, *proof], r1, r2), (old, size, [proof[0], *proof], r1, r2),
        (old, size, proof[:-1], r1, r2),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        wrong.append((old, size, flipped, r1, r2))
    for case in wrong:
        assert not verify_consistency(*case), case


def test_the_edge_cases_of_verify_test_go() -> None:
    r1, r2 = b"don't care 1", b"don't care 2"
    assert not verify_consistency(0, 0, [], r1, r2)
    assert not verify_consistency(1, 1, [], r1, r2)
    assert verify_consistency(0, 0, [], r1, r1)
    assert verify_consistency(0, 1, [], r1, r2)
    assert verify_consistency(1, 1, [], r2, r2)
    assert not verify_consistency(1, 0, [], r1, r2)
    assert not verify_consistency(2, 1, [], r1, r2)
    assert not verify_consistency(1, 2, [], r1, r2)
    assert not verify_consistency(0, 1, [EMPTY_ROOT], EMPTY_ROOT, EMPTY_ROOT)
    assert not verify_consistency(1, 1, [EMPTY_ROOT], EMPTY_ROOT, EMPTY_ROOT)
    for index, size in ((0, 0), (0, 1), (1, 0), (2, 1)):
        assert not verify_inclusion(index, size, SOME_HASH, [], b"")
        assert not verify_inclusion(index, size, b"", [], EMPTY_ROOT)
        assert not verify_inclusion(index, size, SOME_HASH, [], EMPTY_ROOT)
    single = leaf_hash(b"data")
    assert verify_inclusion(0, 1, single, [], single)
    assert not verify_inclusion(0, 1, b"", [], single)


def test_every_proof_of_every_tree_up_to_70_leaves_verifies() -> None:
    """Beyond the vectors: all sizes, all leaves, all prefixes, against a tree built the
    RFC's recursive way, and each prefix's frontier root."""
    rng = random.Random(6962)
    leaves = [leaf_hash(rng.randbytes(8)) for _ in range(70)]
    tree = Tree(leaves)

    def mth(part: list[bytes]) -> bytes:
        if not part:
            return EMPTY_ROOT
        if len(part) == 1:
            return part[0]
        k = 1 << ((len(part) - 1).bit_length() - 1)
        return node_hash(mth(part[:k]), mth(part[k:]))

    frontier = Frontier()
    for size in range(1, 71):
        frontier.append(leaves[size - 1])
        root = mth(leaves[:size])
        assert tree.root(size) == root == frontier.root()
        for index in range(size):
            assert verify_inclusion(index, size, leaves[index],
                                    tree.inclusion_proof(index, size), root)
        for old in range(size + 1):
            proof = tree.consistency_proof(old, size)
            assert verify_consistency(old, size, proof, tree.root(old), root)
            if 0 < old < size:
                assert not verify_consistency(old, size, proof, SOME_HASH, root)
    with pytest.raises(ValueError):
        tree.inclusion_proof(70, 70)
    with pytest.raises(ValueError):
        tree.consistency_proof(5, 71)
