"""Reindex: the blind index rebuilt under the active index key, batch by batch (a job; resumable).

This is the only code that indexes whole stored notices; posting and revising index the document they
were given (app/search/indexer.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit.record import Action, record
from app.auth.principal import Principal
from app.crypto.keyring import Keyring
from app.db import advisory_lock, utcnow
from app.keys.jobs import (
    PURGE_BATCH,
    REINDEX_BATCH,
    Progress,
    await_propagation,
    check_batch_size,
    no_progress,
    object_id,
)
from app.keys.tables import TERM_TABLES, purge_terms, reindex_terms
from app.notices.models import Notice, NoticeRevision
from app.notices.schemas import Subject
from app.notices.service import revision_aad
from app.runtime import Runtime
from app.search.indexer import term_rows
from app.search.models import IndexBuild, SubjectTerm

REINDEX_LOCK_KEY = 0x4152_5852_4549_4458  # "ARXREIDX"


@dataclass
class ReindexReport:
    active: int
    notices: int = 0
    subjects: int = 0
    requests: int = 0
    enquiries: int = 0


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
    # our feet (FOR NO KEY UPDATE: hits a post inserts meanwhile refer to these rows, FOR KEY SHARE).
    # SQLite transactions are already serialised by BEGIN IMMEDIATE.
    advisory_lock(session, REINDEX_LOCK_KEY)
    notices = list(session.scalars(select(Notice).where(Notice.id > after, _missing_terms(version))
                                   .order_by(Notice.id).limit(batch_size)
                                   .with_for_update(of=Notice, key_share=True)))
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


def reindex_subjects(runtime: Runtime, principal: Principal, *, batch_size: int = REINDEX_BATCH,
                     progress: Progress = no_progress, wait: bool = True) -> ReindexReport:
    """Build the blind index under the active index version, batch by batch; resumable, idempotent.

    Searches keep using the previous complete version until this build is marked complete.
    """
    check_batch_size(batch_size)
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
    report = replace(report, **{t.name: reindex_terms(runtime, ring, t, active, batch_size)
                                for t in TERM_TABLES})
    with runtime.db.unit_of_work() as session:
        session.execute(update(IndexBuild).where(IndexBuild.key_version == active,
                                                 IndexBuild.completed_at.is_(None))
                        .values(completed_at=utcnow()))
        record(session, principal, Action.KEY_REINDEX, object_id=object_id("index", active))
    return report


def purge_index_terms(runtime: Runtime, version: int, *, batch_size: int = PURGE_BATCH) -> int:
    """Delete a retired index version's terms in batches (short transactions; resumable)."""
    models: tuple[type[Any], ...] = (*(t.terms for t in TERM_TABLES), SubjectTerm)
    return sum(purge_terms(runtime, terms, version, batch_size=batch_size) for terms in models)
