"""An independent RFC 9162 Merkle reference (recursive, top-down, straight from the RFC definitions).

Deliberately not app.audit.merkle: tests check our generator and verifier against it.
"""

from __future__ import annotations

import hashlib


def h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return h(b"")
    if len(leaves) == 1:
        return h(b"\x00" + leaves[0])
    k = split(len(leaves))
    return h(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def root_from_path(index: int, size: int, leaf_hash: bytes, proof: list[bytes]) -> bytes | None:
    """Rebuild the root top-down: the last proof element is the sibling of the biggest subtree."""
    if size == 1:
        return leaf_hash if not proof and index == 0 else None
    if not proof or index >= size:
        return None
    k = split(size)
    if index < k:
        sub = root_from_path(index, k, leaf_hash, proof[:-1])
        return None if sub is None else h(b"\x01" + sub + proof[-1])
    sub = root_from_path(index - k, size - k, leaf_hash, proof[:-1])
    return None if sub is None else h(b"\x01" + proof[-1] + sub)


def independent_inclusion_ok(index: int, size: int, leaf_hash: bytes, proof: list[bytes],
                             root: bytes) -> bool:
    return 0 <= index < size and root_from_path(index, size, leaf_hash, proof) == root


def _consistency(m: int, n: int, proof: list[bytes], complete: bool,
                 old_root: bytes) -> tuple[bytes, bytes] | None:
    """(hash of the first m leaves, hash of all n) of a subtree, rebuilt from SUBPROOF(m, n, complete)."""
    if m == n:
        if complete:
            return (old_root, old_root) if not proof else None
        return (proof[0], proof[0]) if len(proof) == 1 else None
    if not proof:
        return None
    k = split(n)
    if m <= k:
        sub = _consistency(m, k, proof[:-1], complete, old_root)
        return None if sub is None else (sub[0], h(b"\x01" + sub[1] + proof[-1]))
    sub = _consistency(m - k, n - k, proof[:-1], False, old_root)
    if sub is None:
        return None
    return h(b"\x01" + proof[-1] + sub[0]), h(b"\x01" + proof[-1] + sub[1])


def independent_consistency_ok(m: int, n: int, proof: list[bytes], old_root: bytes,
                               new_root: bytes) -> bool:
    if not 0 < m <= n:
        return False
    got = _consistency(m, n, proof, True, old_root)
    return got is not None and got == (old_root, new_root)
