"""RFC 6962 / 9162 Merkle trees: the published test vectors, and our proofs checked by an independent
verifier (tests/support/merkle_reference.py: recursive, top-down, from the RFC, not app.audit.merkle)."""

from __future__ import annotations

import pytest

from app.audit import leafwalk, merkle
from tests.support.merkle_reference import independent_consistency_ok, independent_inclusion_ok, mth

# RFC 6962 test vectors, as published with Certificate Transparency and transparency-dev/merkle
# (proof/verify_test.go): eight leaves, the root of every prefix, and known proofs.
LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f")]
ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]
EMPTY_ROOT = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
INCLUSION = [  # (leaf index, tree size, proof)
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CONSISTENCY = [  # (first, second, proof)
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]


# -- vectors -------------------------------------------------------------------------------------------
class TestPublishedVectors:
    def test_empty_tree_root_is_sha256_of_nothing(self) -> None:
        assert merkle.root_of([]) == EMPTY_ROOT == mth([])

    @pytest.mark.parametrize("size", range(1, 9))
    def test_root_of_every_prefix(self, size: int) -> None:
        leaves = [merkle.leaf_hash(d) for d in LEAVES[:size]]
        assert merkle.root_of(leaves) == ROOTS[size - 1]
        assert mth(LEAVES[:size]) == ROOTS[size - 1]

    @pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
    def test_inclusion_proofs_match_and_verify(self, index: int, size: int, proof: list[str]) -> None:
        leaves = [merkle.leaf_hash(d) for d in LEAVES]
        want = [bytes.fromhex(p) for p in proof]
        got = merkle.inclusion_proof(index, size, lambda a, b: merkle.root_of(leaves[a:b]))
        assert got == want
        assert merkle.verify_inclusion(index, size, leaves[index], want, ROOTS[size - 1])
        assert independent_inclusion_ok(index, size, leaves[index], want, ROOTS[size - 1])

    @pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
    def test_consistency_proofs_match_and_verify(self, first: int, second: int, proof: list[str]) -> None:
        leaves = [merkle.leaf_hash(d) for d in LEAVES]
        want = [bytes.fromhex(p) for p in proof]
        assert merkle.consistency_proof(first, second, lambda a, b: merkle.root_of(leaves[a:b])) == want
        assert merkle.verify_consistency(first, second, want, ROOTS[first - 1], ROOTS[second - 1])
        assert independent_consistency_ok(first, second, want, ROOTS[first - 1], ROOTS[second - 1])


# -- our generator against the independent verifier, every shape up to 70 leaves -----------------------
DATA = [f"entry {i}".encode() for i in range(70)]
HASHES = [merkle.leaf_hash(d) for d in DATA]


def slice_root(a: int, b: int) -> bytes:
    return merkle.root_of(HASHES[a:b])


def test_compact_range_root_equals_reference_at_every_size() -> None:
    edge = merkle.CompactRange()
    for n, leaf in enumerate(HASHES, start=1):
        edge.append(leaf)
        assert edge.root() == mth(DATA[:n])


def test_every_inclusion_proof_verifies_independently() -> None:
    for size in range(1, 40):
        root = mth(DATA[:size])
        for index in range(size):
            proof = merkle.inclusion_proof(index, size, slice_root)
            assert independent_inclusion_ok(index, size, HASHES[index], proof, root), (index, size)
            assert merkle.verify_inclusion(index, size, HASHES[index], proof, root)


def test_every_consistency_proof_verifies_independently() -> None:
    for second in range(1, 40):
        new_root = mth(DATA[:second])
        for first in range(1, second + 1):
            proof = merkle.consistency_proof(first, second, slice_root)
            old_root = mth(DATA[:first])
            assert independent_consistency_ok(first, second, proof, old_root, new_root), (first, second)
            assert merkle.verify_consistency(first, second, proof, old_root, new_root)


def test_tampered_proofs_fail_both_verifiers() -> None:
    size, index = 37, 21
    root = mth(DATA[:size])
    proof = merkle.inclusion_proof(index, size, slice_root)
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        assert not merkle.verify_inclusion(index, size, HASHES[index], bad, root)
        assert not independent_inclusion_ok(index, size, HASHES[index], bad, root)
    assert not merkle.verify_inclusion(index + 1, size, HASHES[index], proof, root)
    assert not merkle.verify_inclusion(index, size, HASHES[index], proof[:-1], root)
    assert not merkle.verify_inclusion(index, size, HASHES[index], [*proof, root], root)
    old_root = mth(DATA[:20])
    cproof = merkle.consistency_proof(20, size, slice_root)
    assert not merkle.verify_consistency(20, size, cproof, root, old_root)
    assert not merkle.verify_consistency(19, size, cproof, old_root, root)
    assert not merkle.verify_consistency(20, size, cproof[:-1], old_root, root)
    assert not independent_consistency_ok(20, size, cproof[:-1], old_root, root)


def test_subtree_hasher_remembers_perfect_subtrees_and_matches_the_reference() -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(3000)]
    fetches: list[tuple[int, int]] = []

    def fetch(a: int, b: int) -> list[bytes]:
        fetches.append((a, b))
        return leaves[a:b]

    memo: dict[tuple[int, int], bytes] = {}
    hasher = merkle.SubtreeHasher(fetch, memo)
    assert hasher(0, 3000) == merkle.root_of(leaves)
    first_round = len(fetches)
    proof = merkle.inclusion_proof(1234, 3000, hasher)
    assert merkle.verify_inclusion(1234, 3000, leaves[1234], proof, merkle.root_of(leaves))
    assert all(b - a < 256 for a, b in fetches[first_round:]), "big subtrees come from the memo"


class TestRangeLevels:
    """The batch tree of `arx audit verify` (app/audit/leafwalk.py) against the published roots and the
    independent recursive reference, for every prefix of ranges of many sizes."""

    def test_every_prefix_edge_folds_to_the_published_root(self) -> None:
        leaves = [merkle.leaf_hash(x) for x in LEAVES]
        levels = leafwalk.levels_of(leaves)
        for size in range(1, len(LEAVES) + 1):
            assert merkle.fold_root(leafwalk.edge_at(levels, size)) == ROOTS[size - 1]
        assert merkle.fold_root(leafwalk.edge_at(levels, 0)) == EMPTY_ROOT

    @pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 31, 64, 100])
    def test_edges_agree_with_the_reference_and_the_compact_range(self, n: int) -> None:
        data = [i.to_bytes(4, "big") for i in range(n)]
        leaves = [merkle.leaf_hash(x) for x in data]
        levels = leafwalk.levels_of(leaves)
        running = merkle.CompactRange()
        for size in range(1, n + 1):
            running.append(leaves[size - 1])
            assert leafwalk.edge_at(levels, size) == tuple(running.nodes)
            assert merkle.fold_root(leafwalk.edge_at(levels, size)) == mth(data[:size])


class TestBatchChecks:
    """check_batch names the first row that does not verify and keeps every leaf before it."""

    @staticmethod
    def rows(n: int) -> list[tuple[int, int, bytes, str | None]]:
        return [(i, 100 + i, merkle.leaf_hash(f"entry {i}".encode()), f"entry {i}") for i in range(n)]

    def test_an_intact_batch(self) -> None:
        leaves: list[bytes] = []
        assert leafwalk.check_batch(self.rows(6), 0, leaves) is None
        assert leaves == [r[2] for r in self.rows(6)]

    def test_a_gap_a_missing_entry_and_a_changed_entry_are_each_named(self) -> None:
        gap = [r for r in self.rows(6) if r[0] != 3]
        leaves: list[bytes] = []
        flaw = leafwalk.check_batch(gap, 0, leaves)
        assert flaw is not None and flaw.tree_index == 3 and "jumps from 3 to 4" in flaw.reason
        assert len(leaves) == 3
        missing = [(i, e, h, None if i == 4 else t) for i, e, h, t in self.rows(6)]
        leaves = []
        flaw = leafwalk.check_batch(missing, 0, leaves)
        assert flaw == leafwalk.Flaw("the entry of this leaf is missing", 4, 104) and len(leaves) == 4
        changed = [(i, e, h, t + "!" if i in (2, 5) and t else t) for i, e, h, t in self.rows(6)]
        leaves = []
        flaw = leafwalk.check_batch(changed, 0, leaves)
        assert flaw is not None and (flaw.tree_index, flaw.entry_id) == (2, 102) and len(leaves) == 2
        both = [(i, e, h, None if i == 4 else (t + "!" if i == 1 and t else t))
                for i, e, h, t in self.rows(6)]
        flaw = leafwalk.check_batch(both, 0, [])
        assert flaw is not None and flaw.tree_index == 1, "the earliest problem wins"
