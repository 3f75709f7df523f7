"""Full verification of the audit log: every leaf, every checkpoint root and signature.

Rows are streamed straight from the database driver inside a read snapshot (REPEATABLE READ on
PostgreSQL, a deferred read transaction on SQLite, so writers are never blocked), each entry's leaf is
recomputed from its canonical text, in aligned power-of-two ranges (app/audit/leafwalk.py; large logs
by worker processes), whose right edges are joined in order into one tree. Every signed checkpoint must be
the root of a prefix of that one leaf sequence, which proves consecutive checkpoints consistent (each
extends the one before) more strongly than an RFC 9162 proof between them would. A checkpoint a party
saved earlier (``--since-checkpoint``) must verify under an audit key and be a prefix root too: a log
truncated below it, or rewritten and re-signed, fails.
"""

from __future__ import annotations

import base64
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import make_url, select

from app.audit.canonical import UNSEALED_SQL, canonical_entry_sql
from app.audit.checkpoint import AuditKey, Checkpoint, NoteError, audit_keys, open_checkpoint
from app.audit.leafwalk import RangeResult, Source, batches, begin_snapshot, walk, walk_range
from app.audit.merkle import EMPTY_ROOT, CompactRange, fold_root
from app.audit.models import AuditLeaf
from app.db import Database
from app.runtime import Runtime

CHUNK = 1 << 17  # leaves per range: a power of two, so every whole range is one perfect subtree
PARALLEL_MIN = 2 * CHUNK  # from two ranges up, one worker process per CPU


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
        begin_snapshot(conn.driver_connection, _dialect(db))
        yield conn.driver_connection
    finally:
        conn.rollback()
        conn.close()


def _dialect(db: Database) -> str:
    return db.engine.dialect.name


@dataclass(frozen=True)
class _LogState:
    """What one snapshot says about the log before its leaves are read."""

    checkpoints: list[tuple[Any, ...]]  # (tree_size, root_hash, key_version, note, created_at), by size
    unsealed: int
    leaf_count: int  # one past the highest tree index stored

    @property
    def signed_size(self) -> int:
        return self.checkpoints[-1][0] if self.checkpoints else 0


def _read_state(conn: Any) -> _LogState:
    cur = conn.cursor()
    try:
        cur.execute("SELECT tree_size, root_hash, key_version, note, created_at FROM audit_checkpoint "
                    "ORDER BY tree_size")
        checkpoints = [tuple(r) for r in cur.fetchall()]
        cur.execute(f"SELECT count(*) FROM audit_entry e WHERE {UNSEALED_SQL}")
        unsealed = cur.fetchone()[0]
        cur.execute("SELECT max(tree_index) FROM audit_leaf")
        last = cur.fetchone()[0]
    finally:
        cur.close()
    return _LogState(checkpoints, unsealed, 0 if last is None else last + 1)


def _checked_checkpoints(rows: list[tuple[Any, ...]], keys: dict[int, AuditKey], origin: str,
                         report: Report) -> dict[int, bytes]:
    """Signed roots by tree size, from checkpoint rows whose note verifies and matches its columns."""
    roots: dict[int, bytes] = {}
    previous_time = None
    for size, root, key_version, note, created_at in rows:
        problem = _checkpoint_problem(size, bytes(root), keys.get(key_version), key_version, note, origin)
        if problem is not None:
            report.problems.append(Problem(problem, checkpoint_size=size))
            continue
        if previous_time is not None and created_at < previous_time:
            report.problems.append(Problem("checkpoint is older than the one before it",
                                           checkpoint_size=size))
        previous_time = created_at
        roots[size] = bytes(root)
    return roots


def _checkpoint_problem(size: int, root: bytes, key: AuditKey | None, key_version: int, note: str,
                        origin: str) -> str | None:
    """Why one checkpoint row does not verify, or None."""
    if key is None:
        return f"signed by audit key version {key_version}, which the keyring does not hold"
    try:
        checkpoint, _ = open_checkpoint(note, [key])
    except NoteError as exc:
        return f"checkpoint note does not verify: {exc}"
    if (checkpoint.origin, checkpoint.tree_size, checkpoint.root_hash) != (origin, size, root):
        return "checkpoint columns differ from its signed note"
    return None


def _open_saved(saved_note: str | None, keys: list[AuditKey], origin: str,
                report: Report) -> Checkpoint | None:
    """The checkpoint a party kept, once it verifies under an audit key and names this log."""
    if saved_note is None:
        return None
    try:
        saved, _ = open_checkpoint(saved_note, keys)
    except NoteError as exc:
        report.problems.append(Problem(f"the saved checkpoint does not verify: {exc}"))
        return None
    if saved.origin != origin:
        report.problems.append(Problem("the saved checkpoint is from another log"))
        return None
    return saved


def _compare_saved(saved: Checkpoint, roots: dict[int, bytes], signed_size: int, report: Report) -> None:
    """A saved checkpoint beyond the log's latest means truncation; a different root, rewritten history."""
    if saved.tree_size > signed_size:
        report.problems.append(Problem(
            f"the log was truncated: a saved checkpoint covers {saved.tree_size} entries, the log's latest "
            f"checkpoint only {signed_size}", tree_index=signed_size))
    elif roots.get(saved.tree_size, saved.root_hash) != saved.root_hash:
        report.problems.append(Problem("the log's checkpoint at this size contradicts a saved checkpoint: "
                                       "history was rewritten", checkpoint_size=saved.tree_size))


def verify_log(runtime: Runtime, *, saved_note: str | None = None, workers: int | None = None,
               chunk: int = CHUNK) -> Report:
    """Recompute the whole log; saved_note is a checkpoint a party kept (detects truncation, rewrites).

    The leaves are read in aligned ranges of chunk leaves (a power of two), by `workers` processes
    (default: one per CPU from PARALLEL_MIN leaves up); the ranges' right edges are then joined into the
    roots the checkpoints signed.
    """
    started = time.perf_counter()
    report = Report()
    origin = runtime.settings.audit_origin
    keys = audit_keys(runtime.keys.current(), origin)
    saved = _open_saved(saved_note, keys, origin, report)
    db = runtime.db
    with _snapshot(db) as conn:
        state = _read_state(conn)
        report.checkpoints, report.unsealed = len(state.checkpoints), state.unsealed
        roots = _checked_checkpoints(state.checkpoints, {k.version: k for k in keys}, origin, report)
        if saved is not None:
            _compare_saved(saved, roots, state.signed_size, report)
            roots.setdefault(saved.tree_size, saved.root_hash)
        total = max(state.signed_size, state.leaf_count)
        ranges = [(a, min(a + chunk, total)) for a in range(0, total, chunk)]
        report.workers = _worker_count(workers, total, len(ranges))
        results = _walk_ranges(db, conn, ranges, frozenset(roots), report.workers)
    _join(db, ranges, results, roots, report)
    report.tree_size = state.signed_size
    _check_coverage(report, state.signed_size)
    report.seconds = time.perf_counter() - started
    return report


def _worker_count(workers: int | None, total: int, ranges: int) -> int:
    if workers is None:
        workers = (os.cpu_count() or 1) if total >= PARALLEL_MIN else 1
    return max(1, min(workers, ranges))


def _walk_ranges(db: Database, conn: Any, ranges: list[tuple[int, int]], sizes: frozenset[int],
                 workers: int) -> list[RangeResult]:
    """Each range's result: in this process and snapshot, or by a pool of worker processes."""
    dialect = _dialect(db)
    queries = [_leaf_sql(dialect, start, end) for start, end in ranges]
    starts = [start for start, _ in ranges]
    if workers == 1:
        return [walk(batches(conn, dialect, sql), start, sizes) for sql, start in zip(queries, starts,
                                                                                    strict=True)]
    # Fork is cheap and safe in a single-threaded process (the CLI); otherwise start afresh (the workers
    # import only app.audit.leafwalk and the driver).
    method = "fork" if threading.active_count() == 1 and os.name == "posix" else "spawn"
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method)) as pool:
        return list(pool.map(walk_range, [_source(db)] * len(ranges), queries, starts,
                             [sizes] * len(ranges)))


def _source(db: Database) -> Source:
    url = make_url(db.url)
    if db.is_sqlite:
        return Source("sqlite", url.database or "")
    return Source("postgresql", url.set(drivername="postgresql").render_as_string(hide_password=False))


def _leaf_sql(dialect: str, start: int, end: int) -> str:
    # No entry row (LEFT JOIN) gives a NULL text, which check_batch reports as a missing entry.
    return (f"SELECT l.tree_index, l.entry_id, l.leaf_hash, "
            f"CASE WHEN e.id IS NULL THEN NULL ELSE {canonical_entry_sql(dialect)} END "
            f"FROM audit_leaf l LEFT JOIN audit_entry e ON e.id = l.entry_id "
            f"WHERE l.tree_index >= {int(start)} AND l.tree_index < {int(end)} ORDER BY l.tree_index")


def _join(db: Database, ranges: list[tuple[int, int]], results: list[RangeResult],
          expected: dict[int, bytes], report: Report) -> None:
    """Join range edges into the tree's roots, in order, and compare each with its signed root."""
    prefix = CompactRange()  # over whole ranges: each is one perfect subtree
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
        if result.flaw is not None:
            flaw = result.flaw
            report.problems.append(Problem(flaw.reason, tree_index=flaw.tree_index, entry_id=flaw.entry_id))
            return
        if reached < end:
            return
        prefix.append(fold_root(result.edges[end]))


def _check_coverage(report: Report, signed_size: int) -> None:
    """Every signed leaf must exist, and every stored leaf must be covered by a signed checkpoint."""
    if report.leaves < signed_size and not any(p.tree_index is not None for p in report.problems):
        report.problems.append(Problem(f"the log was truncated: checkpoint of size {signed_size} but only "
                                       f"{report.leaves} leaves", tree_index=report.leaves))
    elif report.leaves > signed_size and report.ok:
        report.problems.append(Problem("leaf is not covered by any signed checkpoint",
                                       tree_index=signed_size))


def _entry_at(db: Database, index: int) -> int | None:
    with db.engine.connect() as conn:
        return conn.scalar(select(AuditLeaf.entry_id).where(AuditLeaf.tree_index == index))
