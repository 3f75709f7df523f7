"""What still depends on each key version, read from the database (the facts the rules judge)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.models import AuditCheckpoint, AuditDetailKey, AuditEntry
from app.audit.record import Action, Outcome
from app.crypto.keyring import Keyring
from app.db import utcnow
from app.directory.models import ContactRevision
from app.keys.jobs import grouped, propagation_seconds
from app.keys.tables import SEALED_TABLES, sealed_dependents
from app.notices.models import NoticeRevisionKey
from app.runtime import Runtime
from app.search.models import IndexBuild, SubjectTerm


def data_dependents(session: Session) -> dict[str, dict[int, int]]:
    """Rows whose data key each KEK version wraps, by where they live.

    ``audit_details`` are format-2 details (their wrapped keys are in audit_detail_key: rewrap moves
    them); ``legacy_audit_details`` are format-1 details, whose wrapped key the leaf covers."""
    return {"revisions": grouped(session, NoticeRevisionKey.key_version),
            "contacts": grouped(session, ContactRevision.key_version),
            **sealed_dependents(session),
            "audit_details": grouped(session, AuditDetailKey.key_version),
            "legacy_audit_details": grouped(session, AuditEntry.detail_key_version)}


REWRAPPABLE = ("revisions", "contacts", *(t.name for t in SEALED_TABLES), "audit_details")


def rewrappable_dependents(session: Session, version: int) -> int:
    """Data keys under version that a rewrap moves (all but format-1 audit details)."""
    deps = data_dependents(session)
    return sum(deps[name].get(version, 0) for name in REWRAPPABLE)


def index_terms(session: Session) -> dict[int, int]:
    return grouped(session, SubjectTerm.key_version)


def completed_builds(session: Session) -> set[int]:
    return set(session.scalars(select(IndexBuild.key_version).where(IndexBuild.completed_at.is_not(None))))


def checkpoints_signed(session: Session) -> dict[int, int]:
    return grouped(session, AuditCheckpoint.key_version)


def live_tokens(session: Session, runtime: Runtime, ring: Keyring) -> dict[int, int]:
    """Tokens issued under each signing version that have not expired yet, counted from the audit log.

    Tokens are not stored; each issue is audited, and version V signed everything issued between its
    creation and the next version's (plus the poll interval during which services still used V).
    """
    now = utcnow()
    oldest = now - timedelta(seconds=runtime.settings.token_ttl_seconds)
    versions = sorted(ring.versions["signing"], key=lambda v: v.version)
    slack = timedelta(seconds=propagation_seconds(runtime))
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


def countersign_gap(session: Session, version: int) -> tuple[int, int | None] | None:
    """(largest tree size version signed, largest a newer version signed), or None if it signed none."""
    signed = session.scalar(select(func.max(AuditCheckpoint.tree_size))
                            .where(AuditCheckpoint.key_version == version))
    if signed is None:
        return None
    countersigned = session.scalar(select(func.max(AuditCheckpoint.tree_size))
                                   .where(AuditCheckpoint.key_version > version))
    return int(signed), None if countersigned is None else int(countersigned)
