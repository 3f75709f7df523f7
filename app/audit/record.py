"""What every feature imports from the audit log: the actions, the outcomes, and recording an entry.

An entry is written in the caller's transaction (it commits with the action or not at all); a refusal is
recorded by the `denied` hook once the refused transaction has rolled back. See docs/architecture.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry
from app.auth.principal import Principal
from app.crypto.envelope import Envelope


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
    LEGISLATION_READ = "legislation.read"
    LEGISLATION_SEARCH = "legislation.search"
    LEGISLATION_REVISE = "legislation.revise"
    LEGISLATION_REVISIONS = "legislation.revisions"
    LEGISLATION_COMPARE = "legislation.compare"
    LEGISLATION_FRESHNESS = "legislation.freshness"
    LEGISLATION_IMPORT = "admin.legislation_import"
    LEGISLATION_EXPORT = "admin.legislation_export"
    DIRECTORY_READ = "directory.read"
    DIRECTORY_CREATE = "directory.create"
    DIRECTORY_UPDATE = "directory.update"
    DIRECTORY_RETIRE = "directory.retire"
    DIRECTORY_CONFIRM = "directory.confirm"
    DIRECTORY_REMIND = "directory.remind"
    NOTIFICATION_LIST = "notification.list"
    NOTIFICATION_READ = "notification.read"
    REQUEST_CREATE = "request.create"
    REQUEST_READ = "request.read"
    REQUEST_LIST = "request.list"
    REQUEST_MESSAGE = "request.message"
    REQUEST_MESSAGES = "request.messages"
    REQUEST_TRANSITION = "request.transition"
    REQUEST_CONVERT = "request.convert"
    REQUEST_DEADLINES = "request.deadlines"
    REQUEST_ROUTING_LIST = "admin.request_list"
    OBSTACLES_LOAD = "admin.obstacles_load"
    SESSION_START = "portal.session_start"
    SESSION_END = "portal.session_end"
    PASSWORD_CHANGE = "account.password_change"
    TOTP_ENROL = "account.totp_enrol"


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


def record_each(session: Session, principal: Principal, action: Action, object_ids: list[str]) -> None:
    """record() for each of object_ids (a listing audits every row it shows), as one Core INSERT: the
    same rows in the same transaction, without building an ORM object per entry."""
    if not object_ids:
        return
    common = {"username": principal.username, "party": principal.party, "role": str(principal.role),
              "action": str(action), "outcome": str(Outcome.OK),
              "request_id": principal.request_id[:64]}
    session.execute(insert(AuditEntry), [{**common, "object_id": oid} for oid in object_ids])
