"""RFC 6962 / RFC 9162 Merkle trees: leaf and node hashing, roots, inclusion and consistency proofs.

Leaf ``SHA-256(0x00 ‖ data)``, node ``SHA-256(0x01 ‖ left ‖ right)``; the root of n leaves splits at the
largest power of two below n (RFC 9162 §2.1.1). Proof generation takes any ``mth(start, end)`` function
returning the hash of leaves [start, end), so the caller decides where leaves come from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, MutableMapping, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha256 = hashlib.sha256


class ProofError(ValueError):
    """A proof request or a proof that does not fit the tree sizes given."""


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class CompactRange:
    """The right edge of a growing tree: one perfect-subtree hash per set bit of the size.

    Appending is amortised one node hash per leaf, and the root of the current size costs O(log n): the
    sequencer extends the tree with it, and verification streams every leaf through it.
    """

    __slots__ = ("nodes", "size")

    def __init__(self, size: int = 0, nodes: Iterable[bytes] = ()) -> None:
        self.size = size
        self.nodes = list(nodes)
        if len(self.nodes) != size.bit_count():
            raise ValueError("a compact range holds one hash per set bit of its size")

    def append(self, leaf: bytes) -> None:
        nodes, size, h = self.nodes, self.size, leaf
        while size & 1:
            h = _sha256(b"\x01" + nodes.pop() + h).digest()
            size >>= 1
        nodes.append(h)
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        return fold_root(self.nodes)

    def copy(self) -> CompactRange:
        return CompactRange(self.size, self.nodes)


def fold_root(nodes: Sequence[bytes]) -> bytes:
    """The root of a tree given its compact range: perfect-subtree hashes, biggest (leftmost) first."""
    if not nodes:
        return EMPTY_ROOT
    h = nodes[-1]
    for left in reversed(nodes[:-1]):
        h = node_hash(left, h)
    return h


def root_of(leaves: Sequence[bytes]) -> bytes:
    """The root of a whole list of leaf hashes."""
    cr = CompactRange()
    cr.extend(leaves)
    return cr.root()


# -- proof generation (RFC 9162 §2.1.3.1 and §2.1.4.1) -------------------------------------------------
Mth = Callable[[int, int], bytes]


def inclusion_proof(index: int, size: int, mth: Mth) -> list[bytes]:
    """PATH(index, D[0:size]): the sibling hashes from the leaf up to the root."""
    if not 0 <= index < size:
        raise ProofError("index must be below tree_size")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            path.append(mth(start + k, end))
            end = start + k
        else:
            path.append(mth(start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(first: int, second: int, mth: Mth) -> list[bytes]:
    """PROOF(first, D[0:second]): empty when first is 0 or equal to second."""
    if not 0 <= first <= second:
        raise ProofError("need 0 <= first <= second")
    if first in (0, second):
        return []
    proof: list[bytes] = []
    start, end, m, complete = 0, second, first, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                proof.append(mth(start, end))
            break
        k = _split(n)
        if m <= k:
            proof.append(mth(start + k, end))
            end = start + k
        else:
            proof.append(mth(start, start + k))
            start, m, complete = start + k, m - k, False
    proof.reverse()
    return proof


class SubtreeHasher:
    """mth(start, end) over leaves fetched in bulk, remembering the hashes of big perfect subtrees.

    Perfect subtrees of a log never change, so ``memo`` (shared per database) makes repeated proofs over a
    large tree cost a few small leaf reads instead of a full scan.
    """

    MEMO_MIN = 256
    FETCH_MAX = 1 << 16

    def __init__(self, fetch: Callable[[int, int], Sequence[bytes]],
                 memo: MutableMapping[tuple[int, int], bytes]) -> None:
        self.fetch = fetch
        self.memo = memo

    def __call__(self, start: int, end: int) -> bytes:
        n = end - start
        if n <= 0:
            raise ProofError("empty range")
        if n & (n - 1) == 0:
            return self._perfect(start, n)
        k = _split(n)
        return node_hash(self._perfect(start, k), self(start + k, end))

    def _perfect(self, start: int, n: int) -> bytes:
        key = (start, n)
        if n >= self.MEMO_MIN and key in self.memo:
            return self.memo[key]
        if n > self.FETCH_MAX:
            half = n // 2
            h = node_hash(self._perfect(start, half), self._perfect(start + half, half))
            self.memo[key] = h
            return h
        level = list(self.fetch(start, start + n))
        if len(level) != n:
            raise ProofError("the log holds fewer leaves than asked")
        width = 1
        while len(level) > 1:
            level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
            width *= 2
            if width >= self.MEMO_MIN:
                for i, h in enumerate(level):
                    self.memo[(start + i * width, width)] = h
        return level[0]


# -- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) -----------------------------------------------------
def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to; ProofError when the proof has the wrong shape."""
    if not 0 <= index < size:
        raise ProofError("index must be below tree_size")
    if len(leaf) != HASH_SIZE or any(len(p) != HASH_SIZE for p in proof):
        raise ProofError("hashes are 32 bytes")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof too short")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    try:
        return root_from_inclusion(index, size, leaf, proof) == root
    except ProofError:
        return False


def verify_consistency(first: int, second: int, proof: Sequence[bytes], first_root: bytes,
                       second_root: bytes) -> bool:
    """True when proof shows the tree of size second extends the tree of size first."""
    if not 0 <= first <= second or any(len(p) != HASH_SIZE for p in proof):
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
