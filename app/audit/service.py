"""Audit entries: recording them in the caller's transaction, their canonical bytes, and reading the log.

Canonical entry bytes (the Merkle leaf data) cover every stored column. They are the UTF-8 encoding of
``arx-audit-entry/1`` followed, for each column in ``CANONICAL_COLUMNS`` order, by ``~`` for NULL or
``<n>:<text>``, where text is the value as text (integers in decimal, binary in lowercase hex,
``created_at`` as ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC, the same on SQLite and PostgreSQL) and n its length
in characters. The length prefixes make the encoding injective, so changing any column of any entry
changes its leaf.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from app import policy
from app.audit.merkle import SubtreeHasher, consistency_proof, inclusion_proof
from app.audit.models import AuditCheckpoint, AuditEntry, AuditLeaf
from app.auth.principal import Principal
from app.crypto.envelope import Envelope
from app.errors import Forbidden, InvalidInput, NotFound
from app.notices.models import Notice


class Action(StrEnum):
    LOGIN = "auth.login"
    TOKEN_ISSUE = "auth.token_issue"
    TOKEN_REVOKE = "auth.token_revoke"
    NOTICE_CREATE = "notice.create"
    NOTICE_READ = "notice.read"
    NOTICE_LIST = "notice.list"
    NOTICE_REVISE = "notice.revise"
    NOTICE_REVISIONS = "notice.revisions"
    NOTICE_ACCESS_LOG = "notice.access_log"
    SEARCH = "search.subjects"
    SEARCH_HIT = "search.hit"
    PARTY_ADD = "admin.party_add"
    USER_ADD = "admin.user_add"
    USER_DISABLE = "admin.user_disable"
    PARAGRAPHS_LOAD = "admin.paragraphs_load"
    KEY_ROTATE = "keys.rotate"
    KEY_REWRAP = "keys.rewrap"
    KEY_REINDEX = "keys.reindex"
    KEY_RETIRE = "keys.retire"
    AUDIT_READ = "audit.read"
    ENQUIRY_CREATE = "enquiry.create"
    HIT_CREATE = "hit.create"
    HIT_LIST = "hit.list"
    HIT_SHARE = "hit.share"
    HIT_DECLINE = "hit.decline"
    NOTIFICATION_LIST = "notification.list"
    NOTIFICATION_READ = "notification.read"


class Outcome(StrEnum):
    OK = "ok"
    DENIED = "denied"
    FAILED = "failed"


def denied(principal: Principal, action: Action, object_id: str | None) -> Callable[[Session], None]:
    """An on_rollback hook recording a refused access once the refused request's transaction is gone."""

    def write(session: Session) -> None:
        record(session, principal, action, object_id=object_id, outcome=Outcome.DENIED)

    return write


def detail_aad(entry_id_hint: str) -> bytes:
    return b"arx/audit-detail|" + entry_id_hint.encode()


def record(session: Session, principal: Principal, action: Action, *, object_id: str | None = None,
           outcome: Outcome = Outcome.OK, detail: dict[str, Any] | None = None,
           envelope: Envelope | None = None) -> AuditEntry:
    """Append an entry in session's transaction: it commits with the action or not at all."""
    entry = AuditEntry(username=principal.username, party=principal.party, role=str(principal.role),
                       action=str(action), object_id=object_id, outcome=str(outcome),
                       request_id=principal.request_id[:64])
    if detail is not None:
        if envelope is None:
            raise ValueError("an audit detail is always encrypted: pass the envelope")
        sealed = envelope.seal(json.dumps(detail, sort_keys=True).encode(),
                               detail_aad(f"{principal.request_id}|{action}"))
        entry.detail_key_version = sealed.key_version
        entry.detail_wrapped_key = sealed.wrapped_key
        entry.detail_nonce = sealed.nonce
        entry.detail_ciphertext = sealed.ciphertext
    # No flush here: the entry is INSERTed with the rest of the transaction at commit, in one batched
    # statement with the request's other entries (a search or a listing records one per notice).
    session.add(entry)
    return entry


# -- canonical entry bytes -----------------------------------------------------------------------------
CANONICAL_COLUMNS = ("id", "created_at", "username", "party", "role", "action", "object_id", "outcome",
                     "request_id", "detail_key_version", "detail_wrapped_key", "detail_nonce",
                     "detail_ciphertext")
ENTRY_TAG = "arx-audit-entry/1"
_BINARY = ("detail_wrapped_key", "detail_nonce", "detail_ciphertext")
_INTEGER = ("id", "detail_key_version")


def _value_sql(dialect: str, column: str, alias: str) -> str:
    ref = f"{alias}.{column}"
    if dialect == "postgresql":
        if column == "created_at":
            return f"to_char({ref}, 'YYYY-MM-DD HH24:MI:SS.US')"
        if column in _BINARY:
            return f"encode({ref}, 'hex')"
        return f"{ref}::text" if column in _INTEGER else ref
    if column in _BINARY:
        return f"CASE WHEN {ref} IS NULL THEN NULL ELSE lower(hex({ref})) END"  # hex(NULL) is ''
    return f"CAST({ref} AS TEXT)" if column in _INTEGER else ref  # SQLite keeps created_at as that text


def canonical_entry_sql(dialect: str, alias: str = "e") -> str:
    """A SQL expression yielding an entry's canonical text (module doc) on dialect.

    The database renders it, so the sequencer and verification hash one string per row instead of
    building it from a dozen Python values (on PostgreSQL that work also runs beside Python, not in it).
    """
    # Both count characters; SQLite turns the integer into text by itself, PostgreSQL needs the cast.
    length = "CAST(char_length({}) AS TEXT)" if dialect == "postgresql" else "length({})"
    parts = [f"'{ENTRY_TAG}'"]
    for column in CANONICAL_COLUMNS:
        value = _value_sql(dialect, column, alias)
        parts.append(f"COALESCE({length.format(value)} || ':' || {value}, '~')")
    return " || ".join(parts)


def leaf_of(canonical: str) -> bytes:
    """The RFC 6962 leaf hash of an entry from its canonical text: SHA-256(0x00 ‖ UTF-8 text)."""
    return hashlib.sha256(b"\x00" + canonical.encode()).digest()


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
    if not policy.can_read_audit_entries(principal):
        raise Forbidden("only auditors read the audit log",
                        on_rollback=denied(principal, Action.AUDIT_READ, None))
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
        raise NotFound(on_rollback=denied(principal, Action.NOTICE_ACCESS_LOG,
                                          notice_id[:64] if printable else None))
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
