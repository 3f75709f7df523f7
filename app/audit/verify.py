"""Full verification of the audit log: every leaf, every checkpoint root and signature.

Rows are streamed straight from the database driver inside a read snapshot (REPEATABLE READ on
PostgreSQL, a deferred read transaction on SQLite, so writers are never blocked), each entry's leaf is
recomputed from its canonical text and appended to one running tree (large logs: in power-of-two chunks
by worker processes, whose right edges are joined in order). Every signed checkpoint must be
the root of a prefix of that one leaf sequence, which proves consecutive checkpoints consistent (each
extends the one before) more strongly than an RFC 9162 proof between them would. A checkpoint a party
saved earlier (``--since-checkpoint``) must verify under an audit key and be a prefix root too: a log
truncated below it, or rewritten and re-signed, fails.
"""

from __future__ import annotations

import base64
import hashlib
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from app.audit.canonical import UNSEALED_SQL, canonical_entry_sql
from app.audit.checkpoint import AuditKey, NoteError, audit_keys, open_checkpoint
from app.audit.merkle import EMPTY_ROOT, CompactRange, fold_root
from app.audit.models import AuditLeaf
from app.db import Database
from app.runtime import Runtime

STREAM_ROWS = 20_000
CHUNK = 1 << 17  # leaves per worker task: a power of two, so chunks are perfect subtrees
PARALLEL_MIN = 300_000


@dataclass(frozen=True)
class Problem:
    """One thing that does not verify; tree_index/entry_id name the first bad entry when known."""

    reason: str
    tree_index: int | None = None
    entry_id: int | None = None
    checkpoint_size: int | None = None

    def message(self) -> str:
        where = []
        if self.entry_id is not None:
            where.append(f"entry id {self.entry_id}")
        if self.tree_index is not None:
            where.append(f"tree index {self.tree_index}")
        if self.checkpoint_size is not None and not where:
            where.append(f"checkpoint of size {self.checkpoint_size}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason


@dataclass
class Report:
    """What `arx audit verify` found."""

    leaves: int = 0
    checkpoints: int = 0
    tree_size: int = 0
    root_hash: bytes = b""
    unsealed: int = 0
    workers: int = 1
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad(self) -> Problem | None:
        """The earliest problem in tree order (checkpoint-only problems after entry problems)."""
        if not self.problems:
            return None
        return min(self.problems, key=lambda p: (p.tree_index is None, p.tree_index or 0))

    def to_json(self) -> dict[str, Any]:
        first = self.first_bad
        return {"ok": self.ok, "leaves": self.leaves, "checkpoints": self.checkpoints,
                "tree_size": self.tree_size, "root_hash": base64.b64encode(self.root_hash).decode(),
                "unsealed_entries": self.unsealed, "seconds": round(self.seconds, 3),
                "first_bad": None if first is None else {
                    "tree_index": first.tree_index, "entry_id": first.entry_id,
                    "checkpoint_size": first.checkpoint_size, "reason": first.reason,
                    "message": first.message()},
                "problems": [p.message() for p in self.problems]}


@contextmanager
def _snapshot(db: Database) -> Iterator[Any]:
    """A raw driver connection inside one read-only snapshot of the whole database."""
    conn = db.engine.raw_connection()
    try:
        cur = conn.cursor()
        if db.is_sqlite:
            cur.execute("BEGIN")  # deferred: a WAL read snapshot that takes no write lock
        else:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cur.close()
        yield conn
    finally:
        conn.rollback()
        conn.close()


def _stream(db: Database, conn: Any, sql: str) -> Iterator[tuple[Any, ...]]:
    if db.is_sqlite:
        cur = conn.cursor()
        cur.arraysize = STREAM_ROWS
        cur.execute(sql)
    else:
        # A server-side cursor: a million rows never sit in memory at once; binary skips bytea hex.
        cur = conn.driver_connection.cursor(name="arx_audit_verify")
        cur.itersize = STREAM_ROWS
        cur.execute(sql, binary=True)
    try:
        while rows := cur.fetchmany(STREAM_ROWS):
            yield from rows
    finally:
        cur.close()


def _checked_checkpoints(rows: list[tuple[Any, ...]], keys: dict[int, AuditKey], origin: str,
                         report: Report) -> dict[int, bytes]:
    """Signed roots by tree size, from checkpoint rows whose note verifies and matches its columns."""
    roots: dict[int, bytes] = {}
    previous_time = None
    for size, root, key_version, note, created_at in rows:
        key = keys.get(key_version)
        if key is None:
            report.problems.append(Problem(f"signed by audit key version {key_version}, which the "
                                           "keyring does not hold", checkpoint_size=size))
            continue
        try:
            checkpoint, _ = open_checkpoint(note, [key])
        except NoteError as exc:
            report.problems.append(Problem(f"checkpoint note does not verify: {exc}", checkpoint_size=size))
            continue
        if (checkpoint.origin, checkpoint.tree_size, checkpoint.root_hash) != (origin, size, bytes(root)):
            report.problems.append(Problem("checkpoint columns differ from its signed note",
                                           checkpoint_size=size))
            continue
        if previous_time is not None and created_at < previous_time:
            report.problems.append(Problem("checkpoint is older than the one before it",
                                           checkpoint_size=size))
        previous_time = created_at
        roots[size] = checkpoint.root_hash
    return roots


def verify_log(runtime: Runtime, *, saved_note: str | None = None, workers: int | None = None,
               chunk: int = CHUNK) -> Report:
    """Recompute the whole log; saved_note is a checkpoint a party kept (detects truncation, rewrites).

    Large logs are checked in aligned chunks by `workers` processes (default: one per CPU from
    PARALLEL_MIN leaves up); the chunks' right edges are then joined into the roots checkpoints signed.
    """
    started = time.perf_counter()
    report = Report()
    origin = runtime.settings.audit_origin
    key_list = audit_keys(runtime.keys.current(), origin)
    keys = {k.version: k for k in key_list}
    db = runtime.db
    saved = None
    if saved_note is not None:
        try:
            saved, _ = open_checkpoint(saved_note, key_list)
        except NoteError as exc:
            report.problems.append(Problem(f"the saved checkpoint does not verify: {exc}"))
        else:
            if saved.origin != origin:
                report.problems.append(Problem("the saved checkpoint is from another log"))
                saved = None
    with _snapshot(db) as conn:
        cur = conn.cursor()
        cur.execute("SELECT tree_size, root_hash, key_version, note, created_at FROM audit_checkpoint "
                    "ORDER BY tree_size")
        checkpoint_rows = cur.fetchall()
        cur.execute(f"SELECT count(*) FROM audit_entry e WHERE {UNSEALED_SQL}")
        report.unsealed = cur.fetchone()[0]
        cur.execute("SELECT max(tree_index) FROM audit_leaf")
        last = cur.fetchone()[0]
        cur.close()
        report.checkpoints = len(checkpoint_rows)
        roots = _checked_checkpoints(checkpoint_rows, keys, origin, report)
        signed_size = checkpoint_rows[-1][0] if checkpoint_rows else 0
        if saved is not None:
            if saved.tree_size > signed_size:
                report.problems.append(Problem(
                    f"the log was truncated: a saved checkpoint covers {saved.tree_size} entries, the "
                    f"log's latest checkpoint only {signed_size}", tree_index=signed_size))
            elif roots.get(saved.tree_size, saved.root_hash) != saved.root_hash:
                report.problems.append(Problem("the log's checkpoint at this size contradicts a saved "
                                               "checkpoint: history was rewritten",
                                               checkpoint_size=saved.tree_size))
        expected = dict(roots)
        if saved is not None:
            expected.setdefault(saved.tree_size, saved.root_hash)
        total = max(signed_size, last + 1 if last is not None else 0)
        if workers is None:
            workers = (os.cpu_count() or 1) if total >= PARALLEL_MIN else 1
        report.workers = workers if workers > 1 and total > chunk else 1
        if report.workers == 1:
            ranges = [(0, total)]
            results = [_walk(_stream(db, conn, _leaf_sql(db, 0, total)), 0, set(expected))]
        else:
            ranges = [(a, min(a + chunk, total)) for a in range(0, total, chunk)]
            # Fork is cheap and safe in a single-threaded process (the CLI); otherwise start afresh.
            method = "fork" if threading.active_count() == 1 and os.name == "posix" else "spawn"
            context = multiprocessing.get_context(method)
            with ProcessPoolExecutor(max_workers=min(workers, len(ranges)), mp_context=context) as pool:
                results = list(pool.map(_walk_range, [db.url] * len(ranges), ranges,
                                        [set(expected)] * len(ranges)))
    _join(db, ranges, results, expected, report)
    report.tree_size = signed_size
    if report.leaves < signed_size and not any(p.tree_index is not None for p in report.problems):
        report.problems.append(Problem(f"the log was truncated: checkpoint of size {signed_size} but only "
                                       f"{report.leaves} leaves", tree_index=report.leaves))
    elif report.leaves > signed_size and report.ok:
        report.problems.append(Problem("leaf is not covered by any signed checkpoint",
                                       tree_index=signed_size))
    report.seconds = time.perf_counter() - started
    return report


def _leaf_sql(db: Database, start: int, end: int) -> str:
    return (f"SELECT l.tree_index, l.entry_id, l.leaf_hash, e.id, "
            f"{canonical_entry_sql(db.engine.dialect.name)} FROM audit_leaf l "
            f"LEFT JOIN audit_entry e ON e.id = l.entry_id "
            f"WHERE l.tree_index >= {int(start)} AND l.tree_index < {int(end)} ORDER BY l.tree_index")


@dataclass(frozen=True)
class _Range:
    """What one chunk found: leaves verified from its start, its first problem, and its right edge
    (the compact-range nodes local to the chunk) after each checkpoint size inside it and at its end."""

    verified: int
    problem: Problem | None
    edges: dict[int, tuple[bytes, ...]]


def _walk_range(url: str, bounds: tuple[int, int], sizes: set[int]) -> _Range:
    """A worker process: verify the leaves of one chunk in its own read snapshot."""
    db = Database(url)
    try:
        with _snapshot(db) as conn:
            return _walk(_stream(db, conn, _leaf_sql(db, *bounds)), bounds[0], sizes)
    finally:
        db.dispose()


def _walk(rows: Iterator[tuple[Any, ...]], start: int, sizes: set[int]) -> _Range:
    """Stream leaves in tree order from start; stop at the first that does not verify."""
    edge = CompactRange()
    append = edge.append
    sha256 = hashlib.sha256
    edges: dict[int, tuple[bytes, ...]] = {}
    problem = None
    index = start
    for tree_index, entry_id, stored, found, canonical in rows:
        if tree_index != index:
            problem = Problem(f"leaf missing: the tree jumps from {index} to {tree_index}", tree_index=index)
            break
        if found is None:
            problem = Problem("the entry of this leaf is missing", tree_index=index, entry_id=entry_id)
            break
        leaf = sha256(b"\x00" + canonical.encode()).digest()
        if leaf != stored:
            problem = Problem("entry does not match its leaf hash (modified or reordered)",
                              tree_index=index, entry_id=entry_id)
            break
        append(leaf)
        index += 1
        if index in sizes:
            edges[index] = tuple(edge.nodes)
    edges[index] = tuple(edge.nodes)
    return _Range(verified=index - start, problem=problem, edges=edges)


def _join(db: Database, ranges: list[tuple[int, int]], results: list[_Range], expected: dict[int, bytes],
          report: Report) -> None:
    """Join chunk edges into the tree's roots, in order, and compare each with its signed root."""
    prefix = CompactRange()  # over whole chunks: each is one perfect subtree
    checked = 0
    for (start, end), result in zip(ranges, results, strict=True):
        reached = start + result.verified
        for size in sorted(s for s in expected if start < s <= reached):
            if fold_root([*prefix.nodes, *result.edges[size]]) != expected[size]:
                report.problems.append(Problem(
                    f"entries at tree indexes {checked}..{size - 1} do not match the checkpoint signed "
                    f"at size {size} (modified, inserted, deleted or reordered)",
                    tree_index=checked, entry_id=_entry_at(db, checked), checkpoint_size=size))
                report.leaves = checked
                report.root_hash = expected.get(checked, EMPTY_ROOT)
                return
            checked = size
        report.leaves = reached
        report.root_hash = fold_root([*prefix.nodes, *result.edges[reached]])
        if result.problem is not None:
            report.problems.append(result.problem)
            return
        if reached < end:
            return
        prefix.append(fold_root(result.edges[end]))


def _entry_at(db: Database, index: int) -> int | None:
    with db.engine.connect() as conn:
        return conn.scalar(select(AuditLeaf.entry_id).where(AuditLeaf.tree_index == index))
