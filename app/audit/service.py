"""Reading the audit log (the auditors' listing) and the Merkle proofs.

Recording entries is in app/audit/record.py, their canonical form in app/audit/canonical.py; a
notice's access log is a notices use case (app/notices/service.py).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, String, literal_column, select
from sqlalchemy.orm import Session, aliased

from app import policy
from app.audit.canonical import canonical_entry_sql
from app.audit.merkle import SubtreeHasher, consistency_proof, inclusion_proof
from app.audit.models import AuditCheckpoint, AuditEntry, AuditLeaf
from app.audit.record import Action, record
from app.auth.principal import Principal
from app.errors import InvalidInput, NotFound

# -- reading the log -----------------------------------------------------------------------------------
MAX_PAGE = 1000
DEFAULT_PAGE = 100


@dataclass(frozen=True)
class EntryView:
    """An entry as auditors see it: never notice content; a sealed detail only inside leaf_input.

    leaf_input is the entry's canonical bytes (docs/audit-entry-encoding.md): SHA-256(0x00 ‖ leaf_input)
    is leaf_hash, so an outside auditor can tie the other fields to the signed tree.
    """

    index: int
    timestamp: datetime
    username: str
    party: str
    role: str
    action: str
    object_id: str | None
    outcome: str
    leaf_hash: bytes
    leaf_input: bytes


def list_entries(session: Session, principal: Principal, *, after: int | None = None,
                 limit: int = DEFAULT_PAGE) -> tuple[list[EntryView], int | None]:
    """Sealed entries in tree order after index `after` (auditors only); the read is itself audited."""
    policy.require(policy.can_read_audit_entries(principal), principal, Action.AUDIT_READ,
                   detail="only auditors read the audit log")
    limit = max(1, min(limit, MAX_PAGE))
    entry = aliased(AuditEntry, name="e")  # canonical_entry_sql names the entry table "e"
    canonical = literal_column(canonical_entry_sql(session.get_bind().dialect.name, "e"), String())
    query = (select(AuditLeaf.tree_index, AuditLeaf.leaf_hash, entry, canonical)
             .join(entry, entry.id == AuditLeaf.entry_id).order_by(AuditLeaf.tree_index)
             .limit(limit + 1))
    if after is not None:
        query = query.where(AuditLeaf.tree_index > after)
    rows = session.execute(query).all()
    items = [EntryView(index=i, timestamp=e.created_at, username=e.username, party=e.party, role=e.role,
                       action=e.action, object_id=e.object_id, outcome=e.outcome, leaf_hash=h,
                       leaf_input=text.encode())
             for i, h, e, text in rows[:limit]]
    record(session, principal, Action.AUDIT_READ)
    return items, (items[-1].index if len(rows) > limit else None)


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
