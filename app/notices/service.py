"""Notice use cases: post, read, list, revise, history, access log. Every query of notice rows goes
through policy.visible_notices (tests/test_architecture.py checks it)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Row,
    Select,
    and_,
    bindparam,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, lazyload

from app import policy
from app.audit.models import AuditEntry, AuditLeaf
from app.audit.record import Action, Outcome, record, record_each
from app.auth.principal import Principal
from app.crypto.envelope import Sealed
from app.db import utcnow
from app.errors import AppError, Conflict, InvalidInput
from app.notices.models import (
    BROADCAST,
    Notice,
    NoticeParagraph,
    NoticeRecipient,
    NoticeRevision,
    NoticeRevisionKey,
    NoticeRevisionRecipient,
)
from app.notices.schemas import NoticeDocument, NoticeRead
from app.notifications.service import notify_parties
from app.params import decode_cursor, encode_cursor
from app.parties.models import Party
from app.parties.service import registered_codes_query
from app.reference.service import known_numbers_query
from app.runtime import Runtime
from app.search.indexer import index_subjects

MAX_PAGE = 100
DEFAULT_PAGE = 50


@dataclass(frozen=True)
class NoticeWritten:
    """A revision just written (and flushed) in the caller's transaction, as after-write hooks see it."""

    notice: Notice
    document: NoticeDocument
    revision: int  # 1 for a new notice; the previous revision, if any, is revision - 1


NoticeHook = Callable[[Session, Runtime, Principal, NoticeWritten], None]
LockHook = Callable[[Session, Runtime, NoticeDocument], None]
_AFTER_WRITE: list[tuple[int, NoticeHook]] = []
_BEFORE_WRITE: list[LockHook] = []

# Hook stages, run in this order whatever the order of import. Matching takes its term locks and reads
# other parties' notices and enquiries (app/enquiries); accounting then updates rows shared by every
# post (statistics). A hook that locked shared rows before the term locks could deadlock with a post
# holding a term lock and reaching the same rows.
MATCH, ACCOUNT = 0, 1


def before_notice_written(hook: LockHook) -> LockHook:
    """Register the decorated hook to run first in the transaction of every notice post and revision,
    before any row is written or locked, with the document about to be written: a feature whose
    after-write hook takes a lock that other use cases take before their row locks (matching) enters it
    here, so every writer takes it in the same order (docs/architecture.md, "Hooks")."""
    if hook not in _BEFORE_WRITE:
        _BEFORE_WRITE.append(hook)
    return hook


def after_notice_written(stage: int) -> Callable[[NoticeHook], NoticeHook]:
    """Register the decorated hook to run in the transaction of every notice post and revision, after
    its audit entry, in its stage (MATCH before ACCOUNT): features built on notices (deconfliction,
    statistics) subscribe here, so this module never imports them (docs/architecture.md, import rules).
    Registered at import of the subscriber's module; the application and the CLI import every feature."""
    def register(hook: NoticeHook) -> NoticeHook:
        if all(hook is not registered for _, registered in _AFTER_WRITE):
            _AFTER_WRITE.append((stage, hook))
            _AFTER_WRITE.sort(key=lambda entry: entry[0])  # stable: registration order within a stage
        return hook
    return register


def notice_hooks() -> tuple[NoticeHook, ...]:
    """The registered after-write hooks, in the order they run."""
    return tuple(hook for _, hook in _AFTER_WRITE)


def _writing(session: Session, runtime: Runtime, doc: NoticeDocument) -> None:
    for hook in _BEFORE_WRITE:
        hook(session, runtime, doc)


def _written(session: Session, runtime: Runtime, principal: Principal, notice: Notice,
             doc: NoticeDocument, revision: int) -> None:
    event = NoticeWritten(notice=notice, document=doc, revision=revision)
    for _, hook in _AFTER_WRITE:
        hook(session, runtime, principal, event)


def content_aad(notice_id: str, revision: int, author_party: str, kind: str) -> bytes:
    """Binds a revision's ciphertext and wrapped key to its row: moved or re-attributed, it won't open."""
    return f"arx/notice|{notice_id}|{revision}|{author_party}|{kind}".encode()


def revision_aad(notice: Notice, revision: NoticeRevision) -> bytes:
    return content_aad(notice.id, revision.revision, notice.author_party, notice.kind)


@cache
def _references_statement() -> CompoundSelect:
    """Which of the codes bound as `parties` are registered and which of the numbers bound as
    `paragraphs` are in the vocabulary, in one round trip (the posting hot path); built once."""
    return union_all(
        registered_codes_query(bindparam("parties", expanding=True)).add_columns(literal("party")),
        known_numbers_query(bindparam("paragraphs", expanding=True)).add_columns(literal("paragraph")))


def _check_references(session: Session, doc: NoticeDocument) -> None:
    """Recipients must be registered parties (or "*"); tags must be in the loaded vocabulary."""
    wanted, tags = set(doc.recipients) - {BROADCAST}, set(doc.paris_paragraphs)
    found = session.execute(_references_statement(),
                            {"parties": sorted(wanted), "paragraphs": sorted(tags)}).all()
    unknown = sorted(wanted - {value for value, what in found if what == "party"})
    if unknown:
        raise InvalidInput(f"recipients: not registered parties: {', '.join(unknown)}",
                           errors=[{"field": "recipients", "message": "unknown party"}])
    unknown = sorted(tags - {value for value, what in found if what == "paragraph"})
    if unknown:
        raise InvalidInput(f"paris_paragraphs: not in the loaded vocabulary: {', '.join(unknown)}",
                           errors=[{"field": "paris_paragraphs", "message": "unknown paragraph"}])


def _recipient_codes(doc: NoticeDocument) -> list[str]:
    return sorted(set(doc.recipients))


def _summarise(notice: Notice, doc: NoticeDocument) -> None:
    """Copy the routing summary (TLP, asset statuses) into the notice's clear columns."""
    notice.tlp = doc.tlp
    notice.asset_status = ",".join(sorted({a.status.value for a in doc.assets}))


def _route(notice: Notice, doc: NoticeDocument) -> None:
    """Copy what routing and access control need into the clear columns of a notice being revised."""
    _summarise(notice, doc)
    notice.recipients = [NoticeRecipient(party_code=code) for code in _recipient_codes(doc)]
    notice.paragraphs = [NoticeParagraph(paragraph=p) for p in sorted(set(doc.paris_paragraphs))]


def _insert_routing(session: Session, notice_id: str, doc: NoticeDocument) -> None:
    """A new notice's recipient and paragraph rows, as bulk Core inserts on the session's connection
    (no ORM object per row, nor the ORM's bulk path)."""
    connection = session.connection()
    connection.execute(insert(NoticeRecipient), [{"notice_id": notice_id, "party_code": code}
                                                 for code in _recipient_codes(doc)])
    connection.execute(insert(NoticeParagraph), [{"notice_id": notice_id, "paragraph": p}
                                                 for p in sorted(set(doc.paris_paragraphs))])


def _seal(runtime: Runtime, notice: Notice, number: int, doc: NoticeDocument, principal: Principal,
          now: datetime) -> NoticeRevision:
    """A new revision holding the sealed document; its recipient rows follow with _insert_revision_routing."""
    revision = NoticeRevision(notice_id=notice.id, revision=number, author_user_id=principal.user_id,
                              created_at=now, tlp=doc.tlp)
    plaintext = doc.model_dump_json().encode()
    revision.store(runtime.envelope.seal(plaintext, revision_aad(notice, revision)))
    return revision


def _insert_revision_routing(session: Session, notice_id: str, number: int, doc: NoticeDocument) -> None:
    """The revision keeps the routing it was written with: who may see it never widens later (bulk
    Core insert once the revision row is flushed)."""
    session.connection().execute(insert(NoticeRevisionRecipient), [
        {"notice_id": notice_id, "revision": number, "party_code": code} for code in _recipient_codes(doc)])


def _notify_shared(session: Session, notice: Notice, doc: NoticeDocument) -> None:
    """notice.shared for every party the notice is (now) shared with but its author, in this transaction."""
    codes = set(_recipient_codes(doc))
    if BROADCAST in codes:
        codes = set(session.scalars(select(Party.code).where(Party.active.is_(True))))
    notify_parties(session, parties=sorted(codes - {notice.author_party}), kind="notice.shared",
                   object_type="notice", object_id=notice.id)


def open_content(runtime: Runtime, notice: Notice, revision: NoticeRevision) -> dict[str, Any]:
    """A revision's decrypted document, for callers that already applied policy.visible_notices."""
    return json.loads(runtime.envelope.open(revision.sealed(), revision_aad(notice, revision)))


# What opening a current revision needs, as plain columns: callers that open dozens of notices at a
# time (search) skip loading three ORM entities per row. Rows go to open_row.
CURRENT_CONTENT = (
    select(Notice.id, Notice.author_party, Notice.kind, NoticeRevision.revision,
           NoticeRevisionKey.key_version, NoticeRevisionKey.wrapped_key, NoticeRevision.nonce,
           NoticeRevision.ciphertext)
    .join(NoticeRevision, and_(NoticeRevision.notice_id == Notice.id,
                               NoticeRevision.revision == Notice.current_revision))
    .join(NoticeRevisionKey, and_(NoticeRevisionKey.notice_id == NoticeRevision.notice_id,
                                  NoticeRevisionKey.revision == NoticeRevision.revision)))


def open_row(runtime: Runtime, row: Row[Any]) -> dict[str, Any]:
    """open_content for a row of CURRENT_CONTENT."""
    sealed = Sealed(row.key_version, row.wrapped_key, row.nonce, row.ciphertext)
    return json.loads(runtime.envelope.open(sealed, content_aad(row.id, row.revision, row.author_party,
                                                                 row.kind)))


def _open(runtime: Runtime, notice: Notice, revision: NoticeRevision, updated_at: datetime) -> NoticeRead:
    document = open_content(runtime, notice, revision)
    return NoticeRead(**document, id=notice.id, author_party=notice.author_party,
                      revision=revision.revision, created_at=notice.created_at, updated_at=updated_at)


def _as_stored(notice: Notice, doc: NoticeDocument, revision: int, updated_at: datetime) -> NoticeRead:
    """The notice just written, from the validated document that was sealed (no need to decrypt it)."""
    return NoticeRead.model_construct(**dict(doc), id=notice.id, author_party=notice.author_party,
                                      revision=revision, created_at=notice.created_at,
                                      updated_at=updated_at)


def create_notice(session: Session, runtime: Runtime, principal: Principal,
                  doc: NoticeDocument) -> NoticeRead:
    """Post a notice for the caller's party (author party from the token, never from the body)."""
    policy.require(policy.can_post_notice(principal), principal, Action.NOTICE_CREATE,
                   detail="this role may not post notices")
    _check_references(session, doc)
    _writing(session, runtime, doc)
    now = utcnow()
    notice = Notice(id=str(uuid.uuid4()), kind=doc.kind, author_party=principal.party,
                    author_user_id=principal.user_id, current_revision=1, created_at=now, updated_at=now)
    _summarise(notice, doc)
    # Two ORM objects (the hooks get the notice); every other row is a bulk Core insert.
    session.add_all([notice, _seal(runtime, notice, 1, doc, principal, now)])
    session.flush()
    _insert_routing(session, notice.id, doc)
    _insert_revision_routing(session, notice.id, 1, doc)
    index_subjects(session, runtime, notice.id, 1, doc.subjects, new_notice=True)
    _notify_shared(session, notice, doc)
    record(session, principal, Action.NOTICE_CREATE, object_id=notice.id)
    _written(session, runtime, principal, notice, doc, 1)
    return _as_stored(notice, doc, 1, now)


def current_document(session: Session, runtime: Runtime, principal: Principal,
                     notice_id: str) -> NoticeDocument:
    """The current document of a notice principal may see (404 otherwise), for a use case that
    revises it on the caller's behalf (sharing after a hit); the revision is what gets audited."""
    notice = _visible(session, principal, notice_id, Action.NOTICE_REVISE)
    return NoticeDocument.model_validate(open_content(runtime, notice, _current(session, notice)))


def _valid_id(notice_id: str) -> bool:
    try:
        return str(uuid.UUID(notice_id)) == notice_id
    except ValueError:
        return False


def _visible_query(principal: Principal, notice_id: str, *entities: Any) -> Select[Any]:
    """The select of notice_id among the notices principal may see. The notice's routing collections
    are not loaded with it: what a caller is shown comes from the sealed document, and a use case
    that changes the routing loads them when it touches them."""
    return (select(Notice, *entities).where(Notice.id == notice_id, policy.visible_notices(principal))
            .options(lazyload(Notice.recipients), lazyload(Notice.paragraphs)))


def _refused(principal: Principal, notice_id: str, action: Action) -> AppError:
    # The audit keeps the attempted id only if it is a well-formed UUID (app/audit/record.py).
    return policy.refusal(principal, action, notice_id, hidden=True)


def _visible(session: Session, principal: Principal, notice_id: str, action: Action,
             *, for_update: bool = False, also: ColumnElement[bool] | None = None) -> Notice:
    """The notice if principal may see it (and it meets `also`, a policy filter); otherwise 404, absent
    and invisible looking the same, audited."""
    notice = None
    if _valid_id(notice_id):
        query = _visible_query(principal, notice_id)
        if also is not None:
            query = query.where(also)
        if for_update:
            # FOR NO KEY UPDATE: a revision never changes the key, so a post matching under the
            # matching lock may still insert hits referring to this notice (FOR KEY SHARE) meanwhile.
            # The row is read again under the lock even if the session holds it (a page loaded it).
            query = query.with_for_update(key_share=True).execution_options(populate_existing=True)
        notice = session.scalar(query)
    if notice is None:
        raise _refused(principal, notice_id, action)
    return notice


def _visible_current(session: Session, principal: Principal, notice_id: str,
                     action: Action) -> tuple[Notice, NoticeRevision]:
    """_visible and the notice's current revision, in one round trip (the read hot path)."""
    row = None
    if _valid_id(notice_id):
        row = session.execute(_visible_query(principal, notice_id, NoticeRevision).join(
            NoticeRevision, and_(NoticeRevision.notice_id == Notice.id,
                                 NoticeRevision.revision == Notice.current_revision))).first()
    if row is None:
        raise _refused(principal, notice_id, action)
    return row[0], row[1]


def _current(session: Session, notice: Notice) -> NoticeRevision:
    revision = session.get(NoticeRevision, (notice.id, notice.current_revision))
    assert revision is not None
    return revision


def get_notice(session: Session, runtime: Runtime, principal: Principal, notice_id: str) -> NoticeRead:
    return open_visible(session, runtime, principal, notice_id, Action.NOTICE_READ)


def open_visible(session: Session, runtime: Runtime, principal: Principal, notice_id: str,
                 action: Action) -> NoticeRead:
    """The current revision of a notice principal may see, decrypted and audited as action (a read by
    another name, e.g. an export); 404 otherwise, absent and invisible alike."""
    notice, revision = _visible_current(session, principal, notice_id, action)
    record(session, principal, action, object_id=notice.id)
    return _open(runtime, notice, revision, notice.updated_at)


def authored_notice_ids(session: Session, principal: Principal) -> list[str]:
    """Ids of the notices of principal's own party (oldest first) among those it may see."""
    return list(session.scalars(select(Notice.id).where(policy.visible_notices(principal),
                                                        policy.authored_by_caller_sql(principal))
                                .order_by(Notice.created_at, Notice.id)))


def list_notices(session: Session, runtime: Runtime, principal: Principal, *, kind: str | None = None,
                 paris_paragraph: str | None = None, author_party: str | None = None,
                 since: datetime | None = None, limit: int = DEFAULT_PAGE,
                 cursor: str | None = None) -> tuple[list[NoticeRead], str | None]:
    """Visible notices, newest first, in pages; each listed notice is audited as read by a listing."""
    policy.require(policy.sees_content(principal), principal, Action.NOTICE_LIST,
                   detail="this role never sees notice content")
    # The current revision's size comes with each row (one round trip), so that rows which do not fit
    # the page budget are neither loaded nor decrypted.
    query = (select(Notice, func.length(NoticeRevision.ciphertext))
             .join(NoticeRevision, and_(NoticeRevision.notice_id == Notice.id,
                                        NoticeRevision.revision == Notice.current_revision))
             .where(policy.visible_notices(principal))
             .options(lazyload(Notice.recipients), lazyload(Notice.paragraphs)))
    if kind:
        query = query.where(Notice.kind == kind)
    if author_party:
        query = query.where(Notice.author_party == author_party)
    if paris_paragraph:
        query = query.where(Notice.paragraphs.any(NoticeParagraph.paragraph == paris_paragraph))
    if since:
        query = query.where(Notice.updated_at >= since)
    if cursor:
        created, last_id = decode_cursor(cursor)  # app/params.py: UTC and a UUID, or a 422
        query = query.where(or_(Notice.created_at < created,
                                and_(Notice.created_at == created, Notice.id < last_id)))
    limit = max(1, min(limit, MAX_PAGE))
    rows = session.execute(query.order_by(Notice.created_at.desc(), Notice.id.desc())
                           .limit(limit + 1)).tuples().all()
    more = len(rows) > limit
    rows = rows[:limit]
    notices = _within_budget(rows, runtime.settings.max_page_bytes)
    more = more or len(notices) < len(rows)
    revisions = {}
    if notices:
        current = session.scalars(
            select(NoticeRevision)
            .join(Notice, and_(Notice.id == NoticeRevision.notice_id,
                               Notice.current_revision == NoticeRevision.revision))
            .where(Notice.id.in_([n.id for n in notices])))
        revisions = {r.notice_id: r for r in current}
    items = [_open(runtime, n, revisions[n.id], n.updated_at) for n in notices]
    if notices:
        record_each(session, principal, Action.NOTICE_LIST, [n.id for n in notices])
    else:
        record(session, principal, Action.NOTICE_LIST)
    return items, (encode_cursor(notices[-1].created_at, notices[-1].id) if more else None)


# A listed notice's JSON is its sealed document (ciphertext minus the 16-byte GCM tag) plus id,
# author party, revision and timestamps; a page adds its envelope and next_cursor.
ITEM_OVERHEAD_BYTES = 256
PAGE_OVERHEAD_BYTES = 1024
GCM_TAG_BYTES = 16


def _within_budget(rows: Sequence[tuple[Notice, int]], budget: int) -> list[Notice]:
    """The longest prefix of notices whose page fits budget bytes (at least one notice: a single
    notice is bounded by the request body limit), from each notice's ciphertext size; the caller
    continues from next_cursor."""
    total, kept = PAGE_OVERHEAD_BYTES, list[Notice]()
    for notice, size in rows:
        total += size - GCM_TAG_BYTES + ITEM_OVERHEAD_BYTES
        if kept and total > budget:
            break
        kept.append(notice)
    return kept


def revise_notice(session: Session, runtime: Runtime, principal: Principal, notice_id: str,
                  doc: NoticeDocument, *, expected_revision: int | None = None) -> NoticeRead:
    """Append a revision (author party only); nothing is overwritten. Revisions of one notice are
    serialised by a row lock (PostgreSQL) or the write lock (SQLite); If-Match gives optimistic checks.
    The before-write hooks' locks come between the checks and the row lock: a hit being shared holds
    the matching lock while it revises this notice."""
    notice = _visible(session, principal, notice_id, Action.NOTICE_REVISE)
    revisable = session.scalar(select(Notice.id).where(Notice.id == notice.id,
                                                       policy.revisable_notices(principal)))
    policy.require(revisable is not None, principal, Action.NOTICE_REVISE, notice.id,
                   detail="only the author party may revise a notice")
    _writing(session, runtime, doc)
    notice = _visible(session, principal, notice_id, Action.NOTICE_REVISE, for_update=True)
    if doc.kind != notice.kind:
        raise InvalidInput("kind: a notice's kind cannot change", errors=[{"field": "kind",
                                                                         "message": "immutable"}])
    if expected_revision is not None and expected_revision != notice.current_revision:
        raise Conflict(f"notice is at revision {notice.current_revision}, not {expected_revision}")
    _check_references(session, doc)
    now = utcnow()
    number = notice.current_revision + 1
    revision = _seal(runtime, notice, number, doc, principal, now)
    session.add(revision)
    notice.current_revision = number
    notice.updated_at = now
    _route(notice, doc)
    session.flush()
    _insert_revision_routing(session, notice.id, number, doc)
    index_subjects(session, runtime, notice.id, number, doc.subjects)
    _notify_shared(session, notice, doc)
    record(session, principal, Action.NOTICE_REVISE, object_id=notice.id)
    _written(session, runtime, principal, notice, doc, number)
    return _as_stored(notice, doc, number, now)


def list_revisions(session: Session, runtime: Runtime, principal: Principal,
                   notice_id: str) -> list[NoticeRead]:
    """The revisions principal may see, oldest first, each the whole notice as it stood: a revision
    is shown only to parties it was shared with when it was written (policy.visible_revisions)."""
    notice = _visible(session, principal, notice_id, Action.NOTICE_REVISIONS)
    revisions = session.scalars(select(NoticeRevision)
                                .join(Notice, Notice.id == NoticeRevision.notice_id)
                                .where(NoticeRevision.notice_id == notice.id,
                                       policy.visible_revisions(principal))
                                .order_by(NoticeRevision.revision))
    record(session, principal, Action.NOTICE_REVISIONS, object_id=notice.id)
    return [_open(runtime, notice, r, r.created_at) for r in revisions]


# -- who accessed a notice ------------------------------------------------------------------------------
ACCESS_LOG_PAGE = 1000
ACCESS_LOG_ACTIONS = (Action.NOTICE_CREATE, Action.NOTICE_READ, Action.NOTICE_LIST,
                      Action.NOTICE_REVISIONS, Action.NOTICE_REVISE, Action.SEARCH_HIT,
                      Action.NOTICE_EXPORT)


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
                      limit: int = ACCESS_LOG_PAGE) -> tuple[list[AccessView], int | None]:
    """Who read, listed, revised, searched-and-found or was refused a notice; author party only, else 404.

    The cursor is an entry id. Entries not yet sealed into the tree are shown with a null index.
    """
    notice = _visible(session, principal, notice_id, Action.NOTICE_ACCESS_LOG,
                      also=policy.access_log_notices(principal))
    limit = max(1, min(limit, ACCESS_LOG_PAGE))
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
