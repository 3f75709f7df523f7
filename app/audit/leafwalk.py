"""Checking one aligned range of the audit tree, in batches: the inner loop of `arx audit verify`.

Rows ``(tree index, entry id, stored leaf hash, canonical text)`` come straight from the database
driver, a batch at a time. Per batch, the checks run over whole columns (is the index run contiguous, is
any entry missing, do the recomputed leaves equal the stored ones) and the leaves are hashed in one
comprehension; the range's Merkle subtree is then built level by level. Per-row Python work is one
SHA-256 call, which is what lets verification keep up with the database.

Worker processes import only this module and the driver (no SQLAlchemy, no app settings), so they start
quickly even when they must be spawned rather than forked.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

BATCH = 10_000
_sha256 = hashlib.sha256


@dataclass(frozen=True)
class Flaw:
    """The first leaf of a range that does not verify."""

    reason: str
    tree_index: int
    entry_id: int | None = None


@dataclass(frozen=True)
class RangeResult:
    """What one range found: leaves verified from its start, its first flaw, and its right edge (the
    compact-range nodes local to the range, biggest first) after each requested size and at the end."""

    verified: int
    flaw: Flaw | None
    edges: dict[int, tuple[bytes, ...]]


@dataclass(frozen=True)
class Source:
    """How a worker process reaches the database: "sqlite" with a file path, or "postgresql" with a
    libpq connection string."""

    dialect: str
    dsn: str


def begin_snapshot(conn: Any, dialect: str) -> None:
    """Start one read-only snapshot on a raw driver connection (writers are never blocked)."""
    cur = conn.cursor()
    if dialect == "sqlite":
        cur.execute("BEGIN")  # deferred: a WAL read snapshot that takes no write lock
    else:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cur.execute("SET LOCAL statement_timeout = 0")  # a long log is read for longer than a request
    cur.close()


def batches(conn: Any, dialect: str, sql: str) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of sql, BATCH at a time, from a raw driver connection inside a snapshot."""
    if dialect == "sqlite":
        cur = conn.cursor()
        cur.arraysize = BATCH
        cur.execute(sql)
    else:
        # A server-side cursor: a million rows never sit in memory at once; binary skips bytea hex.
        cur = conn.cursor(name="arx_audit_verify", binary=True)
        cur.itersize = BATCH
        cur.execute(sql)
    try:
        while rows := cur.fetchmany(BATCH):
            yield rows
    finally:
        cur.close()


def check_batch(rows: list[tuple[Any, ...]], first: int, leaves: list[bytes]) -> Flaw | None:
    """Append the recomputed leaves of rows (which should start at tree index first) to leaves, up to
    the first row that does not verify; return that row's flaw."""
    indexes, entry_ids, stored, texts = zip(*rows, strict=True)
    good, flaw = len(rows), None
    if indexes[0] != first or indexes[-1] != first + good - 1:  # indexes are unique and ascending
        good = next(k for k, index in enumerate(indexes) if index != first + k)
        flaw = Flaw(f"leaf missing: the tree jumps from {first + good} to {indexes[good]}", first + good)
    if None in texts[:good]:
        good = texts.index(None)
        flaw = Flaw("the entry of this leaf is missing", first + good, entry_ids[good])
    computed = [_sha256(b"\x00" + text.encode()).digest() for text in texts[:good]]
    if computed != list(stored[:good]):
        good = next(k for k, leaf in enumerate(computed) if leaf != stored[k])
        flaw = Flaw("entry does not match its leaf hash (modified or reordered)", first + good,
                    entry_ids[good])
        del computed[good:]
    leaves.extend(computed)
    return flaw


def levels_of(leaves: list[bytes]) -> list[list[bytes]]:
    """The perfect-subtree hashes of leaves by height: levels[h][i] covers leaves [i·2^h, (i+1)·2^h)."""
    levels = [leaves]
    while len(level := levels[-1]) > 1:
        levels.append([_sha256(b"\x01" + left + right).digest()
                       for left, right in zip(level[0::2], level[1::2], strict=False)])
    return levels


def edge_at(levels: list[list[bytes]], size: int) -> tuple[bytes, ...]:
    """The compact range (right edge) of the first size leaves, biggest subtree first."""
    nodes, start = [], 0
    for height in range(size.bit_length() - 1, -1, -1):
        if size >> height & 1:
            nodes.append(levels[height][start >> height])
            start += 1 << height
    return tuple(nodes)


def walk(rows: Iterable[list[tuple[Any, ...]]], start: int, sizes: Iterable[int]) -> RangeResult:
    """Verify a range's leaves from tree index start; stop at the first that does not verify. sizes are
    absolute tree sizes whose right edge (within the range) the caller needs."""
    leaves: list[bytes] = []
    flaw = None
    for batch in rows:
        flaw = check_batch(batch, start + len(leaves), leaves)
        if flaw is not None:
            break
    verified = len(leaves)
    levels = levels_of(leaves)
    edges = {size: edge_at(levels, size - start) for size in sizes if start < size <= start + verified}
    edges[start + verified] = edge_at(levels, verified)
    return RangeResult(verified=verified, flaw=flaw, edges=edges)


@contextmanager
def _connect(source: Source) -> Iterator[Any]:
    if source.dialect == "sqlite":
        conn: Any = sqlite3.connect(source.dsn, timeout=30, isolation_level=None)
    else:
        import psycopg  # only PostgreSQL workers need it

        conn = psycopg.connect(source.dsn, connect_timeout=10)
    try:
        begin_snapshot(conn, source.dialect)
        yield conn
    finally:
        conn.rollback()
        conn.close()


def walk_range(source: Source, sql: str, start: int, sizes: frozenset[int]) -> RangeResult:
    """A worker process: verify one range in its own read snapshot (the log only grows, so any later
    snapshot holds the same leaves at the same indexes)."""
    with _connect(source) as conn:
        return walk(batches(conn, source.dialect, sql), start, sizes)
