"""Key rotation use cases: status, rotate, rewrap, reindex, retire — live, resumable, nothing lost.

Rules (README "Key rotation runbook"):
- ``rotate`` adds a version and makes it active; running services pick it up within their poll interval.
- ``rewrap`` re-wraps data keys under the active KEK in batches, each its own transaction, comparing the
  old version on UPDATE so a rerun (or a concurrent run) never double-applies; content stays untouched.
- ``retire`` drops a version's secret material only when nothing still needs it. Audit details are
  append-only (the database refuses UPDATE on audit rows), so they cannot be rewrapped: a data version
  still wrapping audit details is retired only with ``abandon_audit_details``, which makes those details
  (encrypted search queries) unreadable for ever while the entries themselves keep verifying.
- Data, index and audit changes wait until running services must have seen the newest version
  (poll interval + one second for in-flight transactions) before sweeping or retiring, so a service still
  holding the previous keyring cannot slip a row under the version being emptied.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, literal, select, text, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit.models import AuditCheckpoint, AuditEntry
from app.audit.record import Action, Outcome, record
from app.auth.principal import Principal
from app.crypto.envelope import DecryptionError
from app.crypto.keyring import KINDS, KeyKind, Keyring, KeyringError
from app.db import utcnow
from app.directory.models import Contact, ContactRevision
from app.directory.service import contact_aad
from app.errors import Conflict, InvalidInput
from app.notices.models import Notice, NoticeRevision
from app.notices.schemas import Subject
from app.notices.service import content_aad, revision_aad
from app.requests import keys as request_keys
from app.runtime import Runtime
from app.search.indexer import term_rows
from app.search.models import IndexBuild, SubjectTerm
from app.users.models import User
from app.users.service import email_aad, totp_aad

Progress = Callable[[int, int], None]
# Added to the service poll interval: time for a transaction that sealed under the old version to commit.
IN_FLIGHT_SECONDS = 1.0
DEFAULT_BATCH = 10_000
PURGE_BATCH = 50_000
REINDEX_LOCK_KEY = 0x4152_5852_4549_4458  # "ARXREIDX"


def _noop(done: int, total: int) -> None:
    """Progress callback that ignores progress."""


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


def object_id(kind: KeyKind, version: int) -> str:
    """How audit entries name a key version (same form as the JWT kid)."""
    return f"{kind}-v{version}"


# -- status ----------------------------------------------------------------------------------------
@dataclass
class VersionStatus:
    version: int
    dependents: int
    retired: bool
    created_at: str
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "dependents": self.dependents, "retired": self.retired,
                "created_at": self.created_at, **self.detail}


def _grouped(session: Session, column: Any, *where: Any) -> dict[int, int]:
    rows = session.execute(select(column, func.count()).where(column.is_not(None), *where)
                           .group_by(column))
    return {int(v): int(n) for v, n in rows}


def data_dependents(session: Session) -> dict[str, dict[int, int]]:
    """Rows whose data key each KEK version wraps, by where they live."""
    return {"revisions": _grouped(session, NoticeRevision.key_version),
            "totp_secrets": _grouped(session, User.totp_key_version),
            "contacts": _grouped(session, ContactRevision.key_version),
            "emails": _grouped(session, User.email_key_version),
            **request_keys.data_dependents(session, _grouped),
            "audit_details": _grouped(session, AuditEntry.detail_key_version)}


def _rewrappable(deps: dict[str, dict[int, int]], version: int) -> int:
    """Data keys under version that rewrap can move (everything but the append-only audit details)."""
    return sum(d.get(version, 0) for where, d in deps.items() if where != "audit_details")


def _completed_builds(session: Session) -> set[int]:
    return set(session.scalars(select(IndexBuild.key_version).where(IndexBuild.completed_at.is_not(None))))


def _live_tokens(session: Session, runtime: Runtime, ring: Keyring) -> dict[int, int]:
    """Tokens issued under each signing version that have not expired yet, counted from the audit log.

    Tokens are not stored; each issue is audited, and version V signed everything issued between its
    creation and the next version's (plus the poll interval during which services still used V).
    """
    now = utcnow()
    oldest = now - timedelta(seconds=runtime.settings.token_ttl_seconds)
    versions = sorted(ring.versions["signing"], key=lambda v: v.version)
    slack = timedelta(seconds=_propagation_seconds(runtime))
    counts: dict[int, int] = {}
    for i, kv in enumerate(versions):
        if not kv.usable:
            counts[kv.version] = 0
            continue
        start = max(datetime.fromisoformat(kv.created_at), oldest)
        query = select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == str(Action.TOKEN_ISSUE), AuditEntry.outcome == str(Outcome.OK),
            AuditEntry.created_at >= start)
        if i + 1 < len(versions):
            query = query.where(AuditEntry.created_at
                                < datetime.fromisoformat(versions[i + 1].created_at) + slack)
        counts[kv.version] = int(session.scalar(query) or 0)
    return counts


def key_status(session: Session, runtime: Runtime) -> dict[str, Any]:
    """Per kind: the active version and every version with what still depends on it (CONTRACT.md)."""
    ring = runtime.keys.refresh()
    data = data_dependents(session)
    terms = _grouped(session, SubjectTerm.key_version)
    complete = _completed_builds(session)
    tokens = _live_tokens(session, runtime, ring)
    checkpoints = _grouped(session, AuditCheckpoint.key_version)
    status: dict[str, Any] = {}
    for kind in KINDS:
        versions: list[dict[str, Any]] = []
        for kv in sorted(ring.versions[kind], key=lambda v: v.version):
            v = kv.version
            detail: dict[str, Any]
            if kind == "data":
                detail = {name: by_version.get(v, 0) for name, by_version in data.items()}
                count = sum(detail.values())
            elif kind == "index":
                detail = {"terms": terms.get(v, 0), "complete": v in complete}
                count = terms.get(v, 0)
            elif kind == "signing":
                detail = {"live_tokens": tokens.get(v, 0), "kid": f"signing-v{v}"}
                count = tokens.get(v, 0)
            else:
                detail = {"checkpoints": checkpoints.get(v, 0)}
                count = checkpoints.get(v, 0)
            versions.append(VersionStatus(v, count, not kv.usable, kv.created_at, detail).as_dict())
        status[kind] = {"active": ring.active_version(kind), "versions": versions}
    return status


# -- rotate ----------------------------------------------------------------------------------------
def rotate_key(session: Session, runtime: Runtime, principal: Principal, kind: str) -> int:
    """Add a new version of kind and make it active; returns it. Audited in session's transaction."""
    k = parse_kind(kind)
    ring = runtime.keys.update(lambda r: r.rotated(k))
    version = ring.active_version(k)
    record(session, principal, Action.KEY_ROTATE, object_id=object_id(k, version))
    return version


# -- waiting for running services --------------------------------------------------------------------
def _propagation_seconds(runtime: Runtime) -> float:
    return runtime.settings.keyring_poll_seconds + IN_FLIGHT_SECONDS


def propagation_wait(runtime: Runtime, kind: KeyKind) -> float:
    """Seconds until every running service must be using kind's active version (0 when already)."""
    ring = runtime.keys.refresh()
    created = datetime.fromisoformat(ring.version(kind, ring.active_version(kind)).created_at)
    age = (utcnow() - created).total_seconds()
    return max(0.0, _propagation_seconds(runtime) - age)


def await_propagation(runtime: Runtime, kind: KeyKind) -> None:
    remaining = propagation_wait(runtime, kind)
    if remaining > 0:
        time.sleep(remaining)


# -- rewrap ----------------------------------------------------------------------------------------
@dataclass
class RewrapReport:
    active: int
    rewrapped: int = 0
    unreadable: int = 0
    audit_details_left: dict[int, int] = field(default_factory=dict)


def _pending_data_keys(session: Session, active: int) -> int:
    revisions = session.scalar(select(func.count()).select_from(NoticeRevision)
                               .where(NoticeRevision.key_version != active)) or 0
    secrets = session.scalar(select(func.count()).select_from(User)
                             .where(User.totp_key_version != active)) or 0
    emails = session.scalar(select(func.count()).select_from(User)
                            .where(User.email_key_version != active)) or 0
    contacts = session.scalar(select(func.count()).select_from(ContactRevision)
                              .where(ContactRevision.key_version != active)) or 0
    return (int(revisions) + int(secrets) + int(emails) + int(contacts)
            + request_keys.pending(session, active))


# Bulk paths straight to the driver: SQLAlchemy's per-row parameter processing would cost more than the
# cryptography. PostgreSQL: binary COPY into a per-transaction temporary table, then one joined UPDATE.
_PG_STAGE = ("CREATE TEMPORARY TABLE IF NOT EXISTS arx_rewrap_stage (notice_id text, revision integer, "
             "old_version integer, new_version integer, wrapped bytea) ON COMMIT DELETE ROWS")
_PG_APPLY = ("UPDATE notice_revision AS r SET key_version = s.new_version, wrapped_key = s.wrapped "
             "FROM arx_rewrap_stage AS s WHERE r.notice_id = s.notice_id AND r.revision = s.revision "
             "AND r.key_version = s.old_version")
# The old version is compared on UPDATE: a row rewrapped meanwhile (a concurrent or earlier run) is left.
_SQLITE_APPLY = ("UPDATE notice_revision SET key_version = ?, wrapped_key = ? "
                 "WHERE notice_id = ? AND revision = ? AND key_version = ?")


def apply_rewrap(session: Session, changes: list[tuple[str, int, int, int, bytes]]) -> None:
    """Store (notice_id, revision, old version, new version, wrapped key) rows in one bulk statement."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        with connection.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute(_PG_STAGE)
            with cursor.copy("COPY arx_rewrap_stage FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["text", "int4", "int4", "int4", "bytea"])
                for row in changes:
                    copy.write_row(row)
            # Fresh statistics, or the planner may nest-loop over an "empty" temporary table.
            cursor.execute("ANALYZE arx_rewrap_stage")
            cursor.execute(_PG_APPLY)
    else:
        connection.exec_driver_sql(_SQLITE_APPLY, [(new, wrapped, notice_id, number, old)
                                                   for notice_id, number, old, new, wrapped in changes])


Row = tuple[str, int, int, bytes, str, str]
Change = tuple[str, int, int, int, bytes]


def _revision_batch(session: Session, active: int, after: tuple[str, int] | None,
                    batch_size: int) -> list[Row]:
    """The next revisions, in key order after ``after``, whose data key is not under the active KEK."""
    query = (select(NoticeRevision.notice_id, NoticeRevision.revision, NoticeRevision.key_version,
                    NoticeRevision.wrapped_key, Notice.author_party, Notice.kind)
             .join(Notice, Notice.id == NoticeRevision.notice_id)
             .where(NoticeRevision.key_version != active)
             .order_by(NoticeRevision.notice_id, NoticeRevision.revision).limit(batch_size))
    if after is not None:
        position = tuple_(NoticeRevision.notice_id, NoticeRevision.revision)
        query = query.where(position > tuple_(literal(after[0]), literal(after[1])))
    return [tuple(row) for row in session.connection().execute(query)]


def _rewrapped_rows(runtime: Runtime, rows: list[Row]) -> tuple[list[Change], int]:
    """The rows' data keys wrapped under the active KEK, and how many could not be unwrapped."""
    rewrapped = runtime.envelope.rewrapped
    changes: list[Change] = []
    unreadable = 0
    for notice_id, number, old, wrapped, author_party, kind in rows:
        try:
            new, again = rewrapped(old, wrapped, content_aad(notice_id, number, author_party, kind))
        except DecryptionError:
            unreadable += 1  # retired or damaged: left as is, reported, never guessed at
            continue
        changes.append((notice_id, number, old, new, again))
    return changes, unreadable


def _rewrap_revisions(runtime: Runtime, active: int, batch_size: int, report: RewrapReport,
                      progress: Callable[[int], None]) -> None:
    """Batch k's UPDATE and COMMIT (the driver releases the GIL) overlap batch k+1's cryptography.

    Batch k+1 is read inside batch k's transaction; that is safe because revisions are immutable and the
    UPDATE compares the old version, so a row rewrapped in between is simply left alone.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="arx-rewrap") as crypto:
        with runtime.db.unit_of_work() as session:
            rows = _revision_batch(session, active, None, batch_size)
        pending = crypto.submit(_rewrapped_rows, runtime, rows) if rows else None
        while pending is not None:
            changes, unreadable = pending.result()
            last = rows[-1]
            with runtime.db.unit_of_work() as session:
                rows = _revision_batch(session, active, (last[0], last[1]), batch_size)
                pending = crypto.submit(_rewrapped_rows, runtime, rows) if rows else None
                if changes:
                    apply_rewrap(session, changes)
            report.rewrapped += len(changes)
            report.unreadable += unreadable
            progress(len(changes) + unreadable)


# The user columns holding a sealed secret: (column prefix, associated data of that user's secret).
_USER_SECRETS: dict[str, Callable[[str], bytes]] = {"totp": totp_aad, "email": email_aad}


def _rewrap_user_batch(session: Session, runtime: Runtime, active: int, after: int,
                       batch_size: int, prefix: str = "totp") -> tuple[int, int, int | None]:
    version_col = getattr(User, f"{prefix}_key_version")
    users = list(session.scalars(select(User).where(version_col != active, User.id > after)
                                 .order_by(User.id).limit(batch_size)))
    if not users:
        return 0, 0, None
    done = unreadable = 0
    for user in users:
        version, wrapped = getattr(user, f"{prefix}_key_version"), getattr(user, f"{prefix}_wrapped_key")
        assert version is not None and wrapped is not None
        try:
            new, wrapped = runtime.envelope.rewrapped(version, wrapped,
                                                      _USER_SECRETS[prefix](user.username))
        except DecryptionError:
            unreadable += 1
            continue
        setattr(user, f"{prefix}_key_version", new)
        setattr(user, f"{prefix}_wrapped_key", wrapped)
        done += 1
    session.flush()
    return done, unreadable, users[-1].id


def _rewrap_contact_batch(session: Session, runtime: Runtime, active: int, after: tuple[str, int],
                          batch_size: int) -> tuple[int, int, tuple[str, int] | None]:
    """Directory contacts' data keys (their AAD names contact, revision and party)."""
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


def rewrap_data_keys(runtime: Runtime, principal: Principal, *, batch_size: int = DEFAULT_BATCH,
                     progress: Progress = _noop, wait: bool = True) -> RewrapReport:
    """Re-wrap every data key under the active KEK; one transaction per batch; resumable, idempotent."""
    if batch_size < 1:
        raise InvalidInput("batch size must be at least 1", errors=[{"field": "batch_size",
                                                                    "message": "too small"}])
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
    done, bad = request_keys.rewrap(runtime, active, batch_size, advance)
    report.rewrapped += done
    report.unreadable += bad
    for prefix in _USER_SECRETS:
        user_cursor: int | None = 0
        while user_cursor is not None:
            with runtime.db.unit_of_work() as session:
                done, bad, user_cursor = _rewrap_user_batch(session, runtime, active, user_cursor,
                                                            batch_size, prefix)
            report.rewrapped += done
            report.unreadable += bad
            advance(done + bad)
    contact_cursor: tuple[str, int] | None = ("", 0)
    while contact_cursor is not None:
        with runtime.db.unit_of_work() as session:
            done, bad, contact_cursor = _rewrap_contact_batch(session, runtime, active, contact_cursor,
                                                              batch_size)
        report.rewrapped += done
        report.unreadable += bad
        advance(done + bad)
    with runtime.db.unit_of_work() as session:
        report.audit_details_left = {v: n for v, n in _grouped(session, AuditEntry.detail_key_version)
                                     .items() if v != active}
        record(session, principal, Action.KEY_REWRAP, object_id=object_id("data", active),
               outcome=Outcome.OK if report.unreadable == 0 else Outcome.FAILED)
    return report


# -- reindex ---------------------------------------------------------------------------------------
@dataclass
class ReindexReport:
    active: int
    notices: int = 0
    subjects: int = 0
    requests: int = 0


def _missing_terms(version: int) -> Any:
    """Notices whose current revision has no term under version yet (what a resumed run still owes)."""
    return ~(select(SubjectTerm.id).where(SubjectTerm.notice_id == Notice.id,
                                          SubjectTerm.revision == Notice.current_revision,
                                          SubjectTerm.key_version == version).exists())


def _reindex_batch(session: Session, runtime: Runtime, ring: Keyring, version: int, after: str,
                   batch_size: int) -> tuple[int, int, str | None]:
    """Index one batch of notices under version: (notices, subjects, last notice id seen)."""
    # PostgreSQL: the advisory lock serialises batches of concurrent reindex runs (each then sees the
    # other's committed terms), and row locks keep a concurrent revision from replacing the terms under
    # our feet. SQLite transactions are already serialised by BEGIN IMMEDIATE.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": REINDEX_LOCK_KEY})
    notices = list(session.scalars(select(Notice).where(Notice.id > after, _missing_terms(version))
                                   .order_by(Notice.id).limit(batch_size).with_for_update(of=Notice)))
    if not notices:
        return 0, 0, None
    revisions = {(r.notice_id, r.revision): r for r in session.scalars(
        select(NoticeRevision).where(NoticeRevision.notice_id.in_([n.id for n in notices])))}
    rows: list[dict[str, object]] = []
    subjects = 0
    for notice in notices:
        revision = revisions[(notice.id, notice.current_revision)]
        document = json.loads(runtime.envelope.open(revision.sealed(), revision_aad(notice, revision)))
        parsed = [Subject.model_validate(raw) for raw in document.get("subjects", [])]
        rows.extend(term_rows(ring, version, notice.id, revision.revision, parsed))
        subjects += len(parsed)
    if rows:
        session.execute(insert(SubjectTerm), rows)
    return len(notices), subjects, notices[-1].id


def reindex_subjects(runtime: Runtime, principal: Principal, *, batch_size: int = 2_000,
                     progress: Progress = _noop, wait: bool = True) -> ReindexReport:
    """Build the blind index under the active index version, batch by batch; resumable, idempotent.

    Searches keep using the previous complete version until this build is marked complete.
    """
    if batch_size < 1:
        raise InvalidInput("batch size must be at least 1", errors=[{"field": "batch_size",
                                                                    "message": "too small"}])
    if wait:
        # After this, every running service writes new notices' terms under the active version too.
        await_propagation(runtime, "index")
    ring = runtime.keys.refresh()
    active = ring.active_version("index")
    report = ReindexReport(active=active)
    try:
        with runtime.db.unit_of_work() as session:
            if session.get(IndexBuild, active) is None:
                session.add(IndexBuild(key_version=active, started_at=utcnow()))
    except IntegrityError:
        pass  # a concurrent reindex created it first; both then fill the same gaps
    with runtime.db.unit_of_work() as session:
        total = int(session.scalar(select(func.count()).select_from(Notice)
                                   .where(_missing_terms(active))) or 0)
    progress(0, total)
    cursor: str | None = ""
    while cursor is not None:
        with runtime.db.unit_of_work() as session:
            notices, subjects, cursor = _reindex_batch(session, runtime, ring, active, cursor, batch_size)
        report.notices += notices
        report.subjects += subjects
        progress(report.notices, max(total, report.notices))
    report.requests = request_keys.reindex(runtime, ring, active, batch_size)
    with runtime.db.unit_of_work() as session:
        session.execute(update(IndexBuild).where(IndexBuild.key_version == active,
                                                 IndexBuild.completed_at.is_(None))
                        .values(completed_at=utcnow()))
        record(session, principal, Action.KEY_REINDEX, object_id=object_id("index", active))
    return report


# -- retire ----------------------------------------------------------------------------------------
@dataclass
class RetireReport:
    kind: KeyKind
    version: int
    purged_terms: int = 0
    abandoned_audit_details: int = 0


def _restored(kind: KeyKind, version: int, material: bytes) -> Callable[[Keyring], Keyring]:
    """A keyring change putting a version's material back (undoing a retirement that lost a race)."""

    def change(current: Keyring) -> Keyring:
        versions = tuple(replace(v, material=material, retired_at=None) if v.version == version else v
                         for v in current.versions[kind])
        return Keyring(active=dict(current.active), versions={**current.versions, kind: versions})

    return change


def _check_data(session: Session, version: int, abandon_audit_details: bool) -> int:
    deps = data_dependents(session)
    rows = _rewrappable(deps, version)
    if rows:
        raise Conflict(f"data version {version} still wraps {rows} data key(s); run `arx keys rewrap` first")
    details = deps["audit_details"].get(version, 0)
    if details and not abandon_audit_details:
        raise Conflict(f"data version {version} still wraps {details} audit detail(s), which are "
                       "append-only and cannot be rewrapped; pass --abandon-audit-details to retire it "
                       "anyway (those details become unreadable)")
    return details


def _check_index(session: Session, ring: Keyring, version: int) -> None:
    newer = {v for v in ring.usable_versions("index") if v > version}
    if not newer & _completed_builds(session):
        raise Conflict("no newer index version has a complete build; run `arx keys reindex` first "
                       f"(index version {version} still answers searches)")


def _check_audit(session: Session, version: int) -> None:
    signed = session.scalar(select(func.max(AuditCheckpoint.tree_size))
                            .where(AuditCheckpoint.key_version == version))
    if signed is None:
        return
    countersigned = session.scalar(select(func.max(AuditCheckpoint.tree_size))
                                   .where(AuditCheckpoint.key_version > version))
    if countersigned is None or countersigned < signed:
        raise Conflict(f"audit version {version} signed checkpoints up to tree size {signed} that no newer "
                       "audit key has countersigned yet; wait for the next checkpoint and retry")


def purge_index_terms(runtime: Runtime, version: int, *, batch_size: int = PURGE_BATCH) -> int:
    """Delete a retired index version's terms in batches (short transactions; resumable)."""
    purged = request_keys.purge(runtime, version)
    while True:
        with runtime.db.unit_of_work() as session:
            ids = list(session.scalars(select(SubjectTerm.id).where(SubjectTerm.key_version == version)
                                       .order_by(SubjectTerm.id).limit(batch_size)))
            if not ids:
                return purged
            session.execute(delete(SubjectTerm).where(SubjectTerm.key_version == version,
                                                      SubjectTerm.id.between(ids[0], ids[-1])))
            purged += len(ids)


def retire_key(runtime: Runtime, principal: Principal, kind: str, version: str | int, *,
               abandon_audit_details: bool = False, wait: bool = True) -> RetireReport:
    """Drop a version's secret material; refused (Conflict, audited as denied) where data would be lost."""
    k = parse_kind(kind)
    v = version if isinstance(version, int) else parse_version(k, version)
    try:
        return _retire(runtime, principal, k, v, abandon_audit_details=abandon_audit_details, wait=wait)
    except Conflict:
        with runtime.db.unit_of_work() as session:
            record(session, principal, Action.KEY_RETIRE, object_id=object_id(k, v),
                   outcome=Outcome.DENIED)
        raise


def _retire(runtime: Runtime, principal: Principal, k: KeyKind, v: int, *, abandon_audit_details: bool,
            wait: bool) -> RetireReport:
    ring = runtime.keys.refresh()
    try:
        target = ring.version(k, v)
    except KeyringError as exc:
        raise Conflict(str(exc)) from None
    if k == "index" and not target.usable:
        # Retiring again finishes a purge that was interrupted.
        return RetireReport(k, v, purged_terms=purge_index_terms(runtime, v))
    if v == ring.active_version(k):
        raise Conflict(f"{k} version {v} is active; run `arx keys rotate {k}` first")
    if target.material is None:
        raise Conflict(f"{k} version {v} is already retired")
    if wait and k != "signing":
        # A compromised signing key must go at once; the others wait out services' stale keyrings.
        await_propagation(runtime, k)
    report = RetireReport(k, v)
    with runtime.db.unit_of_work() as session:
        if k == "data":
            report.abandoned_audit_details = _check_data(session, v, abandon_audit_details)
        elif k == "index":
            _check_index(session, ring, v)
        elif k == "audit":
            _check_audit(session, v)
        runtime.keys.update(lambda r: r.retired(k, v))
        record(session, principal, Action.KEY_RETIRE, object_id=object_id(k, v))
    if k == "data":
        # A request that sealed under v just before the check may have committed since: undo, refuse.
        with runtime.db.unit_of_work() as session:
            deps = data_dependents(session)
        if _rewrappable(deps, v):
            runtime.keys.update(_restored(k, v, target.material))
            raise Conflict(f"data version {v} gained new dependents while retiring and was restored; "
                           "run `arx keys rewrap` and retry")
    if k == "index":
        if wait:
            await_propagation(runtime, k)
        report.purged_terms = purge_index_terms(runtime, v)
    return report
