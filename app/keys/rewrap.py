"""Rewrap: every data key re-wrapped under the active KEK, in batches (a job: one transaction per batch).

The old version is compared on UPDATE so a rerun (or a concurrent run) never double-applies; content
ciphertext is never touched. Notice revisions, TOTP secrets and (format-2) audit details are rewrapped;
format-1 audit details cannot be (their leaves cover the wrapped key) and are reported as left.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, literal, select, tuple_
from sqlalchemy.orm import Session

from app.audit.models import AuditDetailKey, AuditEntry
from app.audit.record import Action, Outcome, detail_key_aad, record
from app.auth.principal import Principal
from app.crypto.envelope import DecryptionError
from app.directory.models import Contact, ContactRevision
from app.directory.service import contact_aad
from app.keys.jobs import (
    DEFAULT_BATCH,
    Batch,
    Progress,
    await_propagation,
    check_batch_size,
    grouped,
    no_progress,
    object_id,
    run_batches,
)
from app.keys.tables import SEALED_TABLES, rewrap_sealed, sealed_pending
from app.notices.models import NoticeRevisionKey
from app.notices.service import content_aad
from app.runtime import Runtime


@dataclass
class RewrapReport:
    active: int
    rewrapped: int = 0
    unreadable: int = 0
    audit_details_left: dict[int, int] = field(default_factory=dict)


def _pending_data_keys(session: Session, active: int) -> int:
    revisions = session.scalar(select(func.count()).select_from(NoticeRevisionKey)
                               .where(NoticeRevisionKey.key_version != active)) or 0
    contacts = session.scalar(select(func.count()).select_from(ContactRevision)
                              .where(ContactRevision.key_version != active)) or 0
    details = session.scalar(select(func.count()).select_from(AuditDetailKey)
                             .where(AuditDetailKey.key_version != active)) or 0
    return int(revisions) + int(contacts) + int(details) + sealed_pending(session, active)


# Bulk paths straight to the driver, on the narrow notice_revision_key table (migration 0012_keys): plain
# tuples, no ORM objects, no per-row parameter processing by SQLAlchemy (it would cost more than the
# cryptography). The old version is compared on UPDATE: a row rewrapped meanwhile (a concurrent or
# earlier run) is left as it is.
# PostgreSQL: a binary-protocol SELECT, then binary COPY into a per-transaction temporary table and one
# joined UPDATE.
_PG_SELECT = ("SELECT k.notice_id, k.revision, k.key_version, k.wrapped_key, n.author_party, n.kind "
              "FROM notice_revision_key AS k JOIN notice AS n ON n.id = k.notice_id "
              "WHERE k.key_version <> %s AND (k.notice_id, k.revision) > (%s, %s) "
              "ORDER BY k.notice_id, k.revision LIMIT %s")
_PG_STAGE = ("CREATE TEMPORARY TABLE IF NOT EXISTS arx_rewrap_stage (notice_id text, revision integer, "
             "old_version integer, new_version integer, wrapped bytea) ON COMMIT DELETE ROWS")
_PG_APPLY = ("UPDATE notice_revision_key AS r SET key_version = s.new_version, wrapped_key = s.wrapped "
             "FROM arx_rewrap_stage AS s WHERE r.notice_id = s.notice_id AND r.revision = s.revision "
             "AND r.key_version = s.old_version")
# SQLite: walk the narrow table in rowid order (its storage order) and update by rowid, one executemany
# per batch inside the batch's transaction.
_SQLITE_SELECT = ("SELECT k.rowid, k.notice_id, k.revision, k.key_version, k.wrapped_key, n.author_party, "
                  "n.kind FROM notice_revision_key AS k JOIN notice AS n ON n.id = k.notice_id "
                  "WHERE k.key_version <> ? AND k.rowid > ? ORDER BY k.rowid LIMIT ?")
_SQLITE_APPLY = ("UPDATE notice_revision_key SET key_version = ?, wrapped_key = ? "
                 "WHERE rowid = ? AND key_version = ?")

# (position, notice_id, revision, old version, wrapped key, author party, kind); position is the rowid on
# SQLite, (notice_id, revision) on PostgreSQL.
Row = tuple[Any, str, int, int, bytes, str, str]
# (position, notice_id, revision, old version, new version, new wrapped key)
Change = tuple[Any, str, int, int, int, bytes]


def apply_rewrap(session: Session, changes: list[Change]) -> None:
    """Store the rewrapped keys of one batch in one bulk statement (compared on the old version)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        with connection.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute(_PG_STAGE)
            with cursor.copy("COPY arx_rewrap_stage FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["text", "int4", "int4", "int4", "bytea"])
                for _, notice_id, number, old, new, wrapped in changes:
                    copy.write_row((notice_id, number, old, new, wrapped))
            # Fresh statistics, or the planner may nest-loop over an "empty" temporary table.
            cursor.execute("ANALYZE arx_rewrap_stage")
            cursor.execute(_PG_APPLY)
    else:
        connection.exec_driver_sql(_SQLITE_APPLY, [(new, wrapped, rowid, old)
                                                   for rowid, _, _, old, new, wrapped in changes])


def _revision_batch(session: Session, active: int, after: Any, batch_size: int) -> list[Row]:
    """The next revision keys, in table order after ``after``, that are not under the active KEK."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        notice_id, number = after if after is not None else ("", 0)
        raw = connection.connection.driver_connection
        with raw.cursor(binary=True) as cursor:  # type: ignore[union-attr]
            cursor.execute(_PG_SELECT, (active, notice_id, number, batch_size))
            return [((r[0], r[1]), r[0], r[1], r[2], r[3], r[4], r[5]) for r in cursor.fetchall()]
    return [tuple(r) for r in connection.exec_driver_sql(
        _SQLITE_SELECT, (active, after if after is not None else 0, batch_size))]


def _rewrapped_rows(runtime: Runtime, rows: list[Row]) -> tuple[list[Change], int]:
    """The rows' data keys wrapped under the active KEK, and how many could not be unwrapped."""
    active, wrapped = runtime.envelope.rewrap_many(
        (old, key, content_aad(notice_id, number, author_party, kind))
        for _, notice_id, number, old, key, author_party, kind in rows)
    changes = [(row[0], row[1], row[2], row[3], active, again)
               for row, again in zip(rows, wrapped, strict=True) if again is not None]
    # Retired or damaged keys are left as they are and reported, never guessed at.
    return changes, len(rows) - len(changes)


def _rewrap_revisions(runtime: Runtime, active: int, batch_size: int, report: RewrapReport,
                      progress: Callable[[int], None]) -> None:
    """Batch k's UPDATE and COMMIT (the driver releases the GIL) overlap batch k+1's cryptography.

    Batch k+1 is read inside batch k's transaction; that is safe because the UPDATE compares the old
    version, so a row rewrapped in between is simply left alone.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="arx-rewrap") as crypto:
        with runtime.db.unit_of_work() as session:
            rows = _revision_batch(session, active, None, batch_size)
        pending = crypto.submit(_rewrapped_rows, runtime, rows) if rows else None
        while pending is not None:
            changes, unreadable = pending.result()
            last = rows[-1][0]
            with runtime.db.unit_of_work() as session:
                rows = _revision_batch(session, active, last, batch_size)
                pending = crypto.submit(_rewrapped_rows, runtime, rows) if rows else None
                if changes:
                    apply_rewrap(session, changes)
            report.rewrapped += len(changes)
            report.unreadable += unreadable
            progress(len(changes) + unreadable)


def _rewrap_contact_batch(session: Session, runtime: Runtime, active: int, after: tuple[str, int] | None,
                          batch_size: int) -> tuple[int, int, tuple[str, int] | None]:
    """Directory contacts' data keys (their AAD names contact, revision and party)."""
    after = after or ("", 0)
    rows = list(session.execute(
        select(ContactRevision, Contact.party).join(Contact, Contact.id == ContactRevision.contact_id)
        .where(ContactRevision.key_version != active,
               tuple_(ContactRevision.contact_id, ContactRevision.revision)
               > tuple_(literal(after[0]), literal(after[1])))
        .order_by(ContactRevision.contact_id, ContactRevision.revision).limit(batch_size)).tuples())
    if not rows:
        return 0, 0, None
    done = unreadable = 0
    for revision, party in rows:
        try:
            new, wrapped = runtime.envelope.rewrapped(
                revision.key_version, revision.wrapped_key,
                contact_aad(revision.contact_id, revision.revision, party))
        except DecryptionError:
            unreadable += 1
            continue
        revision.key_version, revision.wrapped_key = new, wrapped
        done += 1
    session.flush()
    last = rows[-1][0]
    return done, unreadable, (last.contact_id, last.revision)


def _rewrap_detail_batch(session: Session, runtime: Runtime, active: int, after: str | None,
                         batch_size: int) -> tuple[int, int, str | None]:
    """Format-2 audit details: their wrapped keys live outside the (append-only, hashed) entries."""
    rows = session.execute(select(AuditDetailKey, AuditEntry)
                           .join(AuditEntry, AuditEntry.detail_key_id == AuditDetailKey.key_id)
                           .where(AuditDetailKey.key_version != active, AuditDetailKey.key_id > (after or ""))
                           .order_by(AuditDetailKey.key_id).limit(batch_size)).all()
    if not rows:
        return 0, 0, None
    done = unreadable = 0
    for key, entry in rows:
        try:
            new, wrapped = runtime.envelope.rewrapped(key.key_version, key.wrapped_key,
                                                      detail_key_aad(entry))
        except DecryptionError:
            unreadable += 1
            continue
        key.key_version, key.wrapped_key = new, wrapped
        done += 1
    session.flush()
    return done, unreadable, rows[-1][0].key_id


def rewrap_data_keys(runtime: Runtime, principal: Principal, *, batch_size: int = DEFAULT_BATCH,
                     progress: Progress = no_progress, wait: bool = True) -> RewrapReport:
    """Re-wrap every data key under the active KEK; one transaction per batch; resumable, idempotent."""
    check_batch_size(batch_size)
    if wait:
        await_propagation(runtime, "data")
    active = runtime.keys.refresh().active_version("data")
    report = RewrapReport(active=active)
    with runtime.db.unit_of_work() as session:
        total = _pending_data_keys(session, active)
    progress(0, total)
    seen = 0

    def advance(count: int) -> None:
        nonlocal seen
        seen += count
        progress(seen, max(seen, total))

    _rewrap_revisions(runtime, active, batch_size, report, advance)
    for table in SEALED_TABLES:
        done, bad = rewrap_sealed(runtime, table, active, batch_size, advance)
        report.rewrapped += done
        report.unreadable += bad
    # Contacts and format-2 audit details: their associated data needs a join, so they keep own batches.
    joined: tuple[Batch, ...] = (
        lambda session, after: _rewrap_contact_batch(session, runtime, active, after, batch_size),
        lambda session, after: _rewrap_detail_batch(session, runtime, active, after, batch_size))
    for batch in joined:
        done, bad = run_batches(runtime, batch, advance)
        report.rewrapped += done
        report.unreadable += bad
    with runtime.db.unit_of_work() as session:
        # Format-1 details: their leaves cover the wrapped key, so they stay where they are.
        report.audit_details_left = {v: n for v, n in grouped(session, AuditEntry.detail_key_version)
                                     .items() if v != active}
        record(session, principal, Action.KEY_REWRAP, object_id=object_id("data", active),
               outcome=Outcome.OK if report.unreadable == 0 else Outcome.FAILED)
    return report
