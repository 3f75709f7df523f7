"""Reading the audit log (auditors' listing, a notice's access log) and the Merkle proofs.

Recording entries is in app/audit/record.py, their canonical form in app/audit/canonical.py.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from app import policy
from app.audit.merkle import SubtreeHasher, consistency_proof, inclusion_proof
from app.audit.models import AuditCheckpoint, AuditEntry, AuditLeaf
from app.audit.record import Action, Outcome, record
from app.auth.principal import Principal
from app.errors import InvalidInput, NotFound
from app.notices.models import Notice

# -- reading the log -----------------------------------------------------------------------------------
MAX_PAGE = 1000
DEFAULT_PAGE = 100
ACCESS_LOG_ACTIONS = (Action.NOTICE_CREATE, Action.NOTICE_READ, Action.NOTICE_LIST,
                      Action.NOTICE_REVISIONS, Action.NOTICE_REVISE, Action.SEARCH_HIT)


@dataclass(frozen=True)
class EntryView:
    """An entry as auditors see it: never notice content, never an encrypted detail."""

    index: int
    timestamp: datetime
    username: str
    party: str
    role: str
    action: str
    object_id: str | None
    outcome: str
    leaf_hash: bytes


def list_entries(session: Session, principal: Principal, *, after: int | None = None,
                 limit: int = DEFAULT_PAGE) -> tuple[list[EntryView], int | None]:
    """Sealed entries in tree order after index `after` (auditors only); the read is itself audited."""
    policy.require(policy.can_read_audit_entries(principal), principal, Action.AUDIT_READ,
                   detail="only auditors read the audit log")
    limit = max(1, min(limit, MAX_PAGE))
    query = (select(AuditLeaf.tree_index, AuditLeaf.leaf_hash, AuditEntry)
             .join(AuditEntry, AuditEntry.id == AuditLeaf.entry_id).order_by(AuditLeaf.tree_index)
             .limit(limit + 1))
    if after is not None:
        query = query.where(AuditLeaf.tree_index > after)
    rows = session.execute(query).all()
    items = [EntryView(index=i, timestamp=e.created_at, username=e.username, party=e.party, role=e.role,
                       action=e.action, object_id=e.object_id, outcome=e.outcome, leaf_hash=h)
             for i, h, e in rows[:limit]]
    record(session, principal, Action.AUDIT_READ)
    return items, (items[-1].index if len(rows) > limit else None)


@dataclass(frozen=True)
class AccessView:
    """One access to a notice as its author party sees it: which party and role did what, when."""

    timestamp: datetime
    party: str
    role: str
    action: str
    outcome: str
    index: int | None


def notice_access_log(session: Session, principal: Principal, notice_id: str, *, after: int | None = None,
                      limit: int = MAX_PAGE) -> tuple[list[AccessView], int | None]:
    """Who read, listed, revised, searched-and-found or was refused a notice; author party only, else 404.

    The cursor is an entry id. Entries not yet sealed into the tree are shown with a null index.
    """
    # PostgreSQL refuses NUL in text: a control character must give the 404 of an absent notice.
    printable = notice_id.isprintable()
    notice = session.scalar(select(Notice).where(Notice.id == notice_id,
                                                 policy.visible_notices(principal))) if printable else None
    if notice is None or not policy.can_read_access_log(principal, notice.author_party):
        raise policy.refusal(principal, Action.NOTICE_ACCESS_LOG, notice_id, hidden=True)
    limit = max(1, min(limit, MAX_PAGE))
    query = (select(AuditEntry, AuditLeaf.tree_index)
             .outerjoin(AuditLeaf, AuditLeaf.entry_id == AuditEntry.id)
             .where(AuditEntry.object_id == notice.id,
                    or_(AuditEntry.action.in_([str(a) for a in ACCESS_LOG_ACTIONS]),
                        AuditEntry.outcome == str(Outcome.DENIED)))
             .order_by(AuditEntry.id).limit(limit + 1))
    if after is not None:
        query = query.where(AuditEntry.id > after)
    rows = session.execute(query).all()
    items = [AccessView(timestamp=e.created_at, party=e.party, role=e.role, action=e.action,
                        outcome=e.outcome, index=i) for e, i in rows[:limit]]
    record(session, principal, Action.NOTICE_ACCESS_LOG, object_id=notice.id)
    return items, (rows[limit - 1][0].id if len(rows) > limit else None)


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    return session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1))


def signed_tree_size(session: Session) -> int:
    latest = latest_checkpoint(session)
    return latest.tree_size if latest else 0


# Perfect-subtree hashes never change once sealed: remembered per engine, so proofs stay cheap.
_subtree_memo: weakref.WeakKeyDictionary[Engine, dict[tuple[int, int], bytes]] = (
    weakref.WeakKeyDictionary())


def _tree(session: Session) -> SubtreeHasher:
    engine = session.get_bind()
    assert isinstance(engine, Engine)

    def fetch(start: int, end: int) -> list[bytes]:
        return list(session.scalars(select(AuditLeaf.leaf_hash).where(
            AuditLeaf.tree_index >= start, AuditLeaf.tree_index < end).order_by(AuditLeaf.tree_index)))

    return SubtreeHasher(fetch, _subtree_memo.setdefault(engine, {}))


def _within_signed(session: Session, field: str, size: int) -> None:
    if size > signed_tree_size(session):
        raise InvalidInput(f"{field}: beyond the latest signed checkpoint",
                           errors=[{"field": field, "message": "beyond the signed tree"}])


def inclusion(session: Session, index: int, tree_size: int) -> tuple[bytes, list[bytes]]:
    """(leaf hash, RFC 9162 inclusion proof) of leaf index in the tree of tree_size leaves."""
    if not 0 <= index < tree_size:
        raise InvalidInput("index: must be below tree_size", errors=[{"field": "index",
                                                                      "message": "out of range"}])
    _within_signed(session, "tree_size", tree_size)
    leaf = session.scalar(select(AuditLeaf.leaf_hash).where(AuditLeaf.tree_index == index))
    if leaf is None:
        raise NotFound()
    return leaf, inclusion_proof(index, tree_size, _tree(session))


def consistency(session: Session, first: int, second: int) -> list[bytes]:
    """The RFC 9162 consistency proof between the trees of first and second leaves."""
    if not 0 <= first <= second:
        raise InvalidInput("first: must be between 0 and second", errors=[{"field": "first",
                                                                           "message": "out of range"}])
    _within_signed(session, "second", second)
    return consistency_proof(first, second, _tree(session))
