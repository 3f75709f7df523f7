"""What every key job shares: parsing kinds and versions, progress callbacks, batching, waiting for
running services to see a new keyring.

Jobs (rewrap, reindex, purge) own their transactions, one per batch; use cases (rotate, status) take a
session and only flush.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.crypto.keyring import KINDS, KeyKind
from app.db import utcnow
from app.errors import Conflict, InvalidInput
from app.runtime import Runtime

Progress = Callable[[int, int], None]
# One batch of a job, in its own transaction: (session, cursor after the last batch, None at the start)
# -> (done, unreadable, cursor for the next batch, None when there is no next batch).
Batch = Callable[[Session, Any], tuple[int, int, Any]]
# Added to the service poll interval: time for a transaction that sealed under the old version to commit.
IN_FLIGHT_SECONDS = 1.0
# How long a job waits, past that, for writing transactions begun before it to end (PostgreSQL).
OLDER_WRITERS_WAIT_SECONDS = 60.0
DEFAULT_BATCH = 10_000
REINDEX_BATCH = 2_000
PURGE_BATCH = 50_000


def no_progress(done: int, total: int) -> None:
    """Progress callback that ignores progress."""


def run_batches(runtime: Runtime, batch: Batch, advance: Callable[[int], None]) -> tuple[int, int]:
    """Run batch from the start to the end, one transaction each (resumable): (done, unreadable)."""
    done = unreadable = 0
    cursor: Any = None
    while True:
        with runtime.db.unit_of_work() as session:
            more, bad, cursor = batch(session, cursor)
        done, unreadable = done + more, unreadable + bad
        advance(more + bad)
        if cursor is None:
            return done, unreadable


def parse_kind(kind: str) -> KeyKind:
    if kind not in KINDS:
        raise InvalidInput(f"key kind must be one of {', '.join(KINDS)}",
                           errors=[{"field": "kind", "message": "unknown"}])
    return kind


def parse_version(kind: KeyKind, version: str) -> int:
    """A version as printed anywhere: ``3``, ``v3`` or the JWT kid ``signing-v3``."""
    raw = version.strip().lower().removeprefix(f"{kind}-").removeprefix("v")
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInput("version must be a positive integer (e.g. 2)",
                           errors=[{"field": "version", "message": "invalid"}])
    return int(raw)


def check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise InvalidInput("batch size must be at least 1", errors=[{"field": "batch_size",
                                                                    "message": "too small"}])


def object_id(kind: KeyKind, version: int) -> str:
    """How audit entries name a key version (same form as the JWT kid)."""
    return f"{kind}-v{version}"


def grouped(session: Session, column: Any, *where: Any) -> dict[int, int]:
    """Row counts by a key-version column (NULLs left out)."""
    rows = session.execute(select(column, func.count()).where(column.is_not(None), *where)
                           .group_by(column))
    return {int(v): int(n) for v, n in rows}


def propagation_seconds(runtime: Runtime) -> float:
    return runtime.settings.keyring_poll_seconds + IN_FLIGHT_SECONDS


def propagation_wait(runtime: Runtime, kind: KeyKind) -> float:
    """Seconds until every running service must be using kind's active version (0 when already)."""
    ring = runtime.keys.refresh()
    created = datetime.fromisoformat(ring.version(kind, ring.active_version(kind)).created_at)
    age = (utcnow() - created).total_seconds()
    return max(0.0, propagation_seconds(runtime) - age)


def await_propagation(runtime: Runtime, kind: KeyKind) -> None:
    """Sleep until running services must have seen kind's active version (and in-flight writes ended)."""
    remaining = propagation_wait(runtime, kind)
    if remaining > 0:
        time.sleep(remaining)
    await_older_writers(runtime)


# Other client sessions of this database and role (ARX's own) in a transaction that has written (an xid)
# and began before `since`. Read-only transactions (a backup, `arx audit verify`) have none and are not
# waited for; autovacuum is no client backend.
_OLDER_WRITERS = text(
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND backend_type = 'client backend' AND usename = current_user "
    "AND backend_xid IS NOT NULL AND xact_start < :since ORDER BY pid")


def await_older_writers(runtime: Runtime, timeout: float = OLDER_WRITERS_WAIT_SECONDS) -> None:
    """PostgreSQL: wait until every writing transaction begun before now has ended. One that sealed or
    indexed under the version being replaced may outlive the in-flight allowance (waiting for the
    matching lock, a slow disk), and a job that ran past its uncommitted rows would never see them:
    sealed under a retired key, unreadable for good. SQLite needs no wait: such a transaction holds the
    write lock that the job's own batches wait for."""
    if runtime.db.engine.dialect.name != "postgresql":
        return
    deadline = time.monotonic() + timeout
    with runtime.db.engine.connect() as connection:
        since = connection.scalar(text("SELECT clock_timestamp()"))
        while True:
            pids = list(connection.scalars(_OLDER_WRITERS, {"since": since}))
            connection.rollback()  # pg_stat_activity is read once per transaction
            if not pids:
                return
            if time.monotonic() > deadline:
                raise Conflict(f"transactions begun before this key job are still open after "
                               f"{timeout:.0f} s (PostgreSQL backends {', '.join(map(str, pids))}); "
                               "end them, then run the command again")
            time.sleep(0.05)
