"""The audit sequencer: gives committed entries contiguous tree positions and signs a checkpoint.

Requests only INSERT ``audit_entry`` rows, inside their own transactions; nothing they do waits on the
tree. Every ``audit_seal_interval_seconds`` one sequencer at a time (a PostgreSQL transaction-level
advisory lock, or SQLite's single write lock) takes the committed entries that have no ``audit_leaf``
yet, in id order, appends their leaf hashes to the tree, and stores the leaves and a checkpoint signed
with the active audit key in one transaction. Several processes may run it: whoever holds the lock seals,
and each process catches its in-memory right edge of the tree up from the stored leaves.

Finding unsealed entries cheaply: each process keeps a watermark W such that every entry with id <= W
is sealed, and only looks above it. On PostgreSQL ids come from a sequence, so an id may belong to a
transaction still running (it will commit later) or to one that rolled back (a permanent gap). A gap
holds W back until the entry after it is ``GAP_GRACE_SECONDS`` old; request transactions are short, so a
gap that old is a rollback. SQLite allocates ids under its write lock, so its ids commit in order.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.audit.canonical import UNSEALED_ABOVE_SQL, canonical_entry_sql, leaf_of, sealed
from app.audit.checkpoint import Checkpoint, sign_checkpoint
from app.audit.merkle import CompactRange
from app.audit.models import AuditCheckpoint, AuditEntry, AuditLeaf
from app.db import Database, advisory_lock, utcnow
from app.runtime import Runtime

log = logging.getLogger("arx.audit")

ADVISORY_LOCK_KEY = 0x4152_5841_5544_4954  # "ARXAUDIT": one sequencer at a time across processes
BATCH = 10_000
GAP_GRACE_SECONDS = 30.0


class TreeStateError(RuntimeError):
    """The stored tree does not match its latest signed checkpoint: refuse to extend it."""


@dataclass
class _State:
    edge: CompactRange
    watermark: int


class _Sequencer:
    """One database's sequencing state in this process."""

    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.state: _State | None = None


_sequencers: weakref.WeakKeyDictionary[Database, _Sequencer] = weakref.WeakKeyDictionary()
_registry_guard = threading.Lock()


def _sequencer(db: Database) -> _Sequencer:
    with _registry_guard:
        seq = _sequencers.get(db)
        if seq is None:
            seq = _sequencers[db] = _Sequencer()
        return seq


def _leaf_hashes(session: Session, start: int, end: int) -> list[bytes]:
    return list(session.scalars(select(AuditLeaf.leaf_hash).where(
        AuditLeaf.tree_index >= start, AuditLeaf.tree_index < end).order_by(AuditLeaf.tree_index)))


def _current_edge(session: Session, cached: CompactRange | None) -> CompactRange:
    """The right edge of the stored tree, checked against the latest checkpoint's root."""
    latest = session.execute(select(AuditCheckpoint.tree_size, AuditCheckpoint.root_hash)
                             .order_by(AuditCheckpoint.tree_size.desc()).limit(1)).first()
    size, root = (latest[0], latest[1]) if latest else (0, None)
    leaves = session.scalar(select(func.max(AuditLeaf.tree_index)))
    if (leaves + 1 if leaves is not None else 0) != size:
        raise TreeStateError("audit leaves and the latest checkpoint disagree on the tree size")
    edge = cached.copy() if cached is not None and cached.size <= size else CompactRange()
    step = 100_000
    while edge.size < size:
        chunk = _leaf_hashes(session, edge.size, min(size, edge.size + step))
        if not chunk:
            raise TreeStateError("audit leaves are missing below the signed tree size")
        edge.extend(chunk)
    if size and edge.root() != root:
        if cached is not None:
            return _current_edge(session, None)
        raise TreeStateError("the stored audit tree does not match its latest signed checkpoint")
    return edge


def _initial_watermark(session: Session) -> int:
    """Below the first unsealed entry, and below any id a still-running transaction might commit."""
    unsealed = session.scalar(select(func.min(AuditEntry.id)).where(~sealed()))
    # Every id below an entry older than the grace period was allocated by a transaction that has ended.
    settled = session.scalar(select(func.max(AuditEntry.id)).where(
        AuditEntry.created_at < utcnow() - timedelta(seconds=GAP_GRACE_SECONDS))) or 0
    return settled if unsealed is None else min(unsealed - 1, settled)


def _advance_watermark(session: Session, watermark: int, up_to: int | None) -> int:
    """The highest id up to which every entry is sealed and every gap older than the grace period."""
    old = AuditEntry.created_at < utcnow() - timedelta(seconds=GAP_GRACE_SECONDS)
    query = (select(AuditEntry.id, old, sealed(above=watermark)).where(AuditEntry.id > watermark)
             .order_by(AuditEntry.id).limit(4 * BATCH))
    if up_to is not None:
        query = query.where(AuditEntry.id <= up_to)
    for entry_id, is_old, is_sealed in session.execute(query):
        # An entry committed since the batch was read is not sealed yet: stop below it.
        if not is_sealed or (entry_id != watermark + 1 and not is_old):
            break
        watermark = entry_id
    return watermark


def _seal_batch(runtime: Runtime, seq: _Sequencer, *, wait: bool = True) -> int | None:
    """One transaction: seal up to BATCH pending entries and sign a checkpoint. Returns how many, or
    None when wait is false and another process holds the sequencer's lock (it is sealing)."""
    db = runtime.db
    with db.unit_of_work() as session:
        # SQLite transactions here begin IMMEDIATE: the write lock already makes this exclusive.
        if not advisory_lock(session, ADVISORY_LOCK_KEY, wait=wait):
            return None
        state = seq.state
        edge = _current_edge(session, state.edge if state else None)
        watermark = state.watermark if state else _initial_watermark(session)
        dialect = session.get_bind().dialect.name
        rows = session.execute(text(
            f"SELECT e.id, {canonical_entry_sql(dialect)} FROM audit_entry e WHERE e.id > :w "
            f"AND {UNSEALED_ABOVE_SQL} ORDER BY e.id LIMIT :n"), {"w": watermark, "n": BATCH}).all()
        if rows:
            start = edge.size
            leaves = []
            for offset, row in enumerate(rows):
                leaf = leaf_of(row[1])
                edge.append(leaf)
                leaves.append((start + offset, row[0], leaf))
            # Straight to the driver: SQLAlchemy's per-parameter processing costs more than the hashing.
            mark = "?" if db.is_sqlite else "%s"
            session.connection().exec_driver_sql(
                f"INSERT INTO audit_leaf (tree_index, entry_id, leaf_hash) VALUES ({mark}, {mark}, {mark})",
                leaves)
            version, note = sign_checkpoint(runtime.keys.current(),
                                            Checkpoint(runtime.settings.audit_origin, edge.size,
                                                       edge.root()))
            session.add(AuditCheckpoint(tree_size=edge.size, root_hash=edge.root(), created_at=utcnow(),
                                        key_version=version, note=note))
            session.flush()
        watermark = _advance_watermark(session, watermark, rows[-1][0] if len(rows) == BATCH else None)
    seq.state = _State(edge=edge, watermark=watermark)  # only once the transaction committed
    return len(rows)


def seal_pending(runtime: Runtime, *, wait: bool = True) -> int:
    """Seal every committed entry not yet in the tree; returns how many were sealed (0: none pending).

    With wait false (the periodic rounds of run_sequencer), a round that finds another process sealing
    leaves the work to it instead of queueing behind its lock: with several workers and instances, the
    rounds would otherwise hold a connection each, waiting, and then re-read the tree the other sealed."""
    seq = _sequencer(runtime.db)
    total = 0
    with seq.guard:
        try:
            while True:
                sealed = _seal_batch(runtime, seq, wait=wait)
                if sealed is None:
                    return total
                total += sealed
                if sealed < BATCH:
                    return total
        except BaseException:
            seq.state = None  # re-read everything next time rather than trust a half-applied state
            raise


@asynccontextmanager
async def run_sequencer(runtime: Runtime) -> AsyncIterator[None]:
    """Seal in the background for the app's lifetime, and once more on shutdown."""
    stop = asyncio.Event()
    interval = runtime.settings.audit_seal_interval_seconds

    async def loop() -> None:
        halted = False
        while not stop.is_set():
            try:
                await asyncio.to_thread(seal_pending, runtime, wait=False)
                halted = False
            except TreeStateError as exc:
                if not halted:  # once, not every interval
                    log.error("audit sequencer halted: %s; run `arx audit verify`", exc)
                halted = True
            except Exception:
                log.exception("audit sequencer round failed; retrying")
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass

    task = asyncio.create_task(loop(), name="arx-audit-sequencer")
    try:
        yield
    finally:
        # Bounded: a database that hangs must not keep the process from exiting (the entries left
        # unsealed are sealed by the next process to start).
        grace = runtime.settings.shutdown_grace_seconds
        stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
            await asyncio.wait_for(asyncio.to_thread(seal_pending, runtime), grace)
        except TimeoutError:
            log.error("final audit seal abandoned: the database did not answer in time")
        except Exception:
            log.exception("final audit seal failed")
