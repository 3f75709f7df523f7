"""Hit/no-hit use cases: enquire, deconflict a posted notice, list hits, share, decline.

What each side learns (README, "Hit/no-hit enquiries"): the enquirer, the party codes of hits on
notices it may not see, then the owner's answer; the owner, who asked, why, on what legal basis and
which of its notices matched. A notice that may not reveal itself (RED, AMBER+STRICT) gives its owner a
hit the counterpart never sees.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.orm import Session

from app import policy
from app.audit.record import Action, denied, record
from app.auth.principal import Principal
from app.crypto.envelope import Sealed
from app.db import MAX_TERM_LOCKS, enter_matching, hold_matching_lock, lock_hit_groups, utcnow
from app.enquiries.keys import enquiry_aad, reason_aad, term_rows
from app.enquiries.matching import (
    CANDIDATES_PER_SUBJECT,
    Probe,
    Terms,
    collect_terms,
    confirm_notices,
    enquiry_candidates,
    matching_keys,
    notice_candidates,
    pad_decryptions,
    strong_match,
    union_matched,
)
from app.enquiries.models import Enquiry, EnquiryTerm, Hit, HitMatch
from app.enquiries.schemas import (
    EnquiryCreate,
    EnquiryCreated,
    HitMatchRead,
    HitRef,
    ReceivedHit,
    SentHit,
)
from app.errors import Conflict, Forbidden, NotFound
from app.notices.models import Notice
from app.notices.schemas import NO_BROADCAST_TLP, NoticeDocument
from app.notices.service import (
    MATCH,
    NoticeWritten,
    after_notice_written,
    before_notice_written,
    current_document,
    revise_notice,
)
from app.notifications.service import notify
from app.runtime import Runtime
from app.search.indexer import searchable_version

PENDING, SHARED, DECLINED = "pending", "shared", "declined"
MAX_LIST = 200


def reveals_itself(tlp: str) -> bool:
    """TLP:RED and TLP:AMBER+STRICT notices never tell anyone but their owner that they match."""
    return tlp not in NO_BROADCAST_TLP


def _notify(session: Session, party: str, kind: str, hit_id: str) -> None:
    """Tell the users of party (an id and a kind, never content)."""
    notify(session, party=party, kind=kind, object_type="hit", object_id=hit_id)


# -- hits being made ---------------------------------------------------------------------------------
HitKey = tuple[str | None, str | None, str, str, bool]  # enquiry, source notice, owner, counterpart, revealed


@dataclass
class _Found:
    key: HitKey
    notice_id: str
    matched_on: list[str]
    reuse_pending: bool


@dataclass
class _HitBook:
    """Hits made by one action, grouped by origin, owner, counterpart and whether revealed. Matches are
    collected first (add), then made into hits (finish): a pending hit of the same group is joined
    rather than doubled, under a lock of each group taken in one order (app/db.py lock_hit_groups), so
    two writes that match one notice or one enquiry through different terms make one hit, not two."""

    session: Session
    principal: Principal
    # An enquirer answered in the response itself needs no notification of its own hits.
    answered_directly: bool = False
    made: dict[HitKey, Hit] = field(default_factory=dict)
    new: list[Hit] = field(default_factory=list)
    found: list[_Found] = field(default_factory=list)

    def add(self, *, enquiry_id: str | None = None, source_notice_id: str | None = None,
            owner: str, counterpart: str, revealed: bool, notice_id: str,
            matched_on: list[str], reuse_pending: bool = False) -> None:
        self.found.append(_Found((enquiry_id, source_notice_id, owner, counterpart, revealed),
                                 notice_id, matched_on, reuse_pending))

    def _hit(self, found: _Found) -> Hit:
        hit = self.made.get(found.key)
        if hit is not None:
            return hit
        enquiry_id, source_notice_id, owner, counterpart, revealed = found.key
        if found.reuse_pending:
            hit = self.session.scalar(select(Hit).where(
                Hit.enquiry_id == enquiry_id if enquiry_id else Hit.enquiry_id.is_(None),
                Hit.source_notice_id == source_notice_id if source_notice_id
                else Hit.source_notice_id.is_(None),
                Hit.owner_party == owner, Hit.counterpart_party == counterpart,
                Hit.revealed.is_(revealed), Hit.status == PENDING))
        if hit is None:
            hit = Hit(id=str(uuid.uuid4()), enquiry_id=enquiry_id, source_notice_id=source_notice_id,
                      owner_party=owner, counterpart_party=counterpart, revealed=revealed,
                      status=PENDING, created_at=utcnow(), matches=[])
            self.session.add(hit)
            self.new.append(hit)
        self.made[found.key] = hit
        return hit

    def finish(self) -> None:
        """Make the hits, then audit and notify every one: the owner always, the counterpart when
        revealed."""
        lock_hit_groups(self.session, [repr(f.key) for f in self.found if f.reuse_pending])
        for found in self.found:
            hit = self._hit(found)
            existing = next((m for m in hit.matches if m.notice_id == found.notice_id), None)
            if existing is None:
                hit.matches.append(HitMatch(notice_id=found.notice_id,
                                            matched_on=",".join(found.matched_on)))
            else:
                existing.matched_on = ",".join(union_matched([existing.matched_on.split(","),
                                                              found.matched_on]))
        self.session.flush()
        for hit in self.new:
            record(self.session, self.principal, Action.HIT_CREATE, object_id=hit.id)
        for hit in self.made.values():
            _notify(self.session, hit.owner_party, "hit.received", hit.id)
            if hit.revealed and not self.answered_directly:
                _notify(self.session, hit.counterpart_party, "hit.found", hit.id)


# -- enquiries -----------------------------------------------------------------------------------------
def _enquiry_term_rows(runtime: Runtime, enquiry_id: str,
                       subjects: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Terms under every usable index version, so the enquiry stands through an index rotation."""
    keyring = runtime.keys.current()
    return [row for version in keyring.usable_versions("index")
            for row in term_rows(keyring, version, enquiry_id, subjects)]


def create_enquiry(session: Session, runtime: Runtime, principal: Principal,
                   body: EnquiryCreate) -> EnquiryCreated:
    """Match the subjects against current revisions of notices the caller may not see; answer one
    hit per holding party (sorted), party codes only. The enquiry stays open as a standing enquiry."""
    if not policy.can_enquire(principal):
        raise Forbidden("this role may not make enquiries",
                        on_rollback=denied(principal, Action.ENQUIRY_CREATE, None))
    now = utcnow()
    document = body.model_dump(mode="json")
    enquiry = Enquiry(id=str(uuid.uuid4()), party_code=principal.party, user_id=principal.user_id,
                      role=str(principal.role), created_at=now,
                      open_until=now + timedelta(days=runtime.settings.enquiry_open_days))
    enquiry.store(runtime.envelope.seal(json.dumps(document).encode(),
                                        enquiry_aad(enquiry.id, enquiry.party_code)))
    session.add(enquiry)
    session.flush()
    rows = _enquiry_term_rows(runtime, enquiry.id, document["subjects"])
    if rows:
        session.execute(insert(EnquiryTerm), rows)
    hold_matching_lock(session, matching_keys(runtime.keys.current(), document["subjects"]), writes=False)
    record(session, principal, Action.ENQUIRY_CREATE, object_id=enquiry.id, detail=document,
           envelope=runtime.envelope)

    probes = [Probe.of(s) for s in document["subjects"]]
    keyring = runtime.keys.current()
    version = searchable_version(session, keyring)
    candidates = notice_candidates(session, version, collect_terms(keyring, version, probes),
                                   CANDIDATES_PER_SUBJECT * len(probes),
                                   policy.hidden_notices(principal))
    book = _HitBook(session, principal, answered_directly=True)
    for match in confirm_notices(session, runtime, probes, candidates):
        notice = match.notice
        book.add(enquiry_id=enquiry.id, owner=notice.author_party, counterpart=principal.party,
                 revealed=reveals_itself(notice.tlp), notice_id=notice.id,
                 matched_on=match.matched_on)
    book.finish()
    hits = sorted((HitRef(hit_id=h.id, party=h.owner_party) for h in book.made.values() if h.revealed),
                  key=lambda h: (h.party, h.hit_id))
    return EnquiryCreated(id=enquiry.id, created_at=now, open_until=enquiry.open_until, hits=hits)


# -- deconfliction and standing enquiries, when a notice is posted or revised ---------------------------
def _keys(runtime: Runtime, doc: NoticeDocument) -> list[int] | None:
    """The term locks of a revision's matching, None if it does not match."""
    if not runtime.settings.deconfliction_enabled or not doc.subjects:
        return None
    return matching_keys(runtime.keys.current(), [s.model_dump(mode="json") for s in doc.subjects])


@before_notice_written
def enter_matching_first(session: Session, runtime: Runtime, doc: NoticeDocument) -> None:
    """Before a post or revision locks anything (a revision, its notice): the matching lock, which
    deconfliction then holds with its term locks. Shared, unless the revision has so many terms that
    deconfliction will hold it exclusively."""
    keys = _keys(runtime, doc)
    if keys is not None:
        enter_matching(session, exclusive=len(keys) > MAX_TERM_LOCKS)


@after_notice_written(MATCH)
def deconflict_notice(session: Session, runtime: Runtime, principal: Principal,
                      written: NoticeWritten) -> None:
    """Match a just-written revision's own subjects against other parties' notices and against open
    enquiries, in the posting transaction. Each strong match with another party's notice makes a pair
    of hits (each owner told of the other), minus what the RED rule or existing visibility forbids.
    Under the write's term locks: a matching write made meanwhile on another worker waits for this one
    to commit, and this one for that."""
    notice, doc = written.notice, written.document
    keys = _keys(runtime, doc)
    if keys is None:
        return
    hold_matching_lock(session, keys)
    subjects = [s.model_dump(mode="json") for s in doc.subjects]
    probes = [Probe.of(s) for s in subjects]
    book = _HitBook(session, principal)
    keyring = runtime.keys.current()
    terms = {v: collect_terms(keyring, v, probes) for v in keyring.usable_versions("index")}
    # The revision is flushed; nothing here needs the hits being made flushed before each query.
    with session.no_autoflush:
        _match_other_notices(session, runtime, principal, notice, doc, probes, terms, book)
        _match_standing_enquiries(session, runtime, notice, doc, subjects, probes, terms, book)
    book.finish()


def _match_other_notices(session: Session, runtime: Runtime, principal: Principal, notice: Notice,
                         doc: NoticeDocument, probes: list[Probe], terms: dict[int, Terms],
                         book: _HitBook) -> None:
    version = searchable_version(session, runtime.keys.current())
    candidates = notice_candidates(session, version, terms[version],
                                   CANDIDATES_PER_SUBJECT * len(probes),
                                   policy.other_parties_notices(notice.author_party))
    matches = confirm_notices(session, runtime, probes, candidates)
    if not matches:
        return
    others = {m.notice.id for m in matches}
    seen_by_poster = set(session.scalars(select(Notice.id).where(
        Notice.id.in_(others), policy.visible_notices(principal))))
    known = set(session.execute(
        select(Hit.source_notice_id, HitMatch.notice_id).join(HitMatch, HitMatch.hit_id == Hit.id)
        .where(or_(and_(Hit.source_notice_id == notice.id, HitMatch.notice_id.in_(others)),
                   and_(Hit.source_notice_id.in_(others), HitMatch.notice_id == notice.id)))).all())
    mine_reveals = reveals_itself(doc.tlp)
    for match in matches:
        other = match.notice
        theirs_reveals = reveals_itself(other.tlp)
        # The other owner learns of this notice: only if it may reveal itself and they can't see it.
        if (mine_reveals and (notice.id, other.id) not in known
                and not policy.party_reads_notice(other.author_party, notice.author_party,
                                                  doc.recipients)):
            book.add(source_notice_id=notice.id, owner=other.author_party,
                     counterpart=notice.author_party, revealed=theirs_reveals, notice_id=other.id,
                     matched_on=match.matched_on, reuse_pending=True)
        # The poster learns of the other notice: only if that one may reveal itself and is unseen.
        if theirs_reveals and other.id not in seen_by_poster and (other.id, notice.id) not in known:
            book.add(source_notice_id=other.id, owner=notice.author_party,
                     counterpart=other.author_party, revealed=mine_reveals, notice_id=notice.id,
                     matched_on=match.matched_on, reuse_pending=True)


def _match_standing_enquiries(session: Session, runtime: Runtime, notice: Notice,
                              doc: NoticeDocument, subjects: list[dict[str, Any]],
                              probes: list[Probe], by_version: dict[int, Terms],
                              book: _HitBook) -> None:
    """Open enquiries of other parties whose subjects strongly match this revision's subjects
    (their terms were written under every index version usable when they were made)."""
    budget = CANDIDATES_PER_SUBJECT * len(probes)
    now = utcnow()
    found: list[tuple[str, int]] = []
    for version, terms in by_version.items():
        found += enquiry_candidates(session, version, terms, budget, not_party=notice.author_party,
                                    now=now)
    found = list(dict.fromkeys(found))[:budget]
    enquiries = {e.id: e for e in session.scalars(
        select(Enquiry).where(Enquiry.id.in_({e for e, _ in found})))} if found else {}
    opened = {e.id: json.loads(runtime.envelope.open(e.sealed(), enquiry_aad(e.id, e.party_code)))
              for e in enquiries.values()}
    pad_decryptions(runtime.envelope, budget - len(opened))
    for enquiry_id, subject_no in found:
        enquiry = enquiries[enquiry_id]
        asked = opened[enquiry_id]["subjects"]
        if subject_no >= len(asked) or policy.party_reads_notice(
                enquiry.party_code, notice.author_party, doc.recipients):
            continue
        probe = Probe.of(asked[subject_no])
        matched = union_matched(strong_match(probe, s) for s in subjects)
        if matched:
            book.add(enquiry_id=enquiry_id, owner=notice.author_party,
                     counterpart=enquiry.party_code, revealed=reveals_itself(doc.tlp),
                     notice_id=notice.id, matched_on=matched, reuse_pending=True)


# -- the owner decides ---------------------------------------------------------------------------------
def _reason(runtime: Runtime, hit: Hit) -> str | None:
    if hit.reason_ciphertext is None:
        return None
    sealed = Sealed(int(hit.reason_key_version or 0), hit.reason_wrapped_key or b"",
                    hit.reason_nonce or b"", hit.reason_ciphertext)
    return runtime.envelope.open(sealed, reason_aad(hit.id)).decode()


def _origin(hit: Hit) -> str:
    return "enquiry" if hit.enquiry_id else "deconfliction"


def _received(runtime: Runtime, hit: Hit, enquiries: dict[str, dict[str, Any]]) -> ReceivedHit:
    asked = enquiries.get(hit.enquiry_id or "", {})
    matches = [HitMatchRead(notice_id=m.notice_id, matched_on=m.matched_on.split(","))
               for m in hit.matches]
    return ReceivedHit(id=hit.id, origin=_origin(hit), enquirer=hit.counterpart_party,
                       purpose=asked.get("purpose"), legal_basis=asked.get("legal_basis"),
                       notice_id=matches[0].notice_id,
                       matched_on=union_matched(m.matched_on for m in matches), matches=matches,
                       revealed=hit.revealed, status=hit.status, reason=_reason(runtime, hit),
                       created_at=hit.created_at, decided_at=hit.decided_at)


def _sent(runtime: Runtime, hit: Hit) -> SentHit:
    return SentHit(id=hit.id, origin=_origin(hit), party=hit.owner_party,
                   status=hit.status, reason=_reason(runtime, hit),
                   created_at=hit.created_at)


def _open_enquiries(session: Session, runtime: Runtime, ids: set[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    return {e.id: json.loads(runtime.envelope.open(e.sealed(), enquiry_aad(e.id, e.party_code)))
            for e in session.scalars(select(Enquiry).where(Enquiry.id.in_(ids)))}


def list_hits(session: Session, runtime: Runtime, principal: Principal, *, box: str,
              status: str | None = None, limit: int = MAX_LIST) -> list[ReceivedHit] | list[SentHit]:
    """Hits on the caller's party's notices (received) or from its enquiries (sent), newest first."""
    if not policy.sees_content(principal):
        raise Forbidden("this role never sees hits", on_rollback=denied(principal, Action.HIT_LIST, None))
    where = policy.received_hits(principal) if box == "received" else policy.sent_hits(principal)
    query = select(Hit).where(where)
    if status:
        query = query.where(Hit.status == status)
    hits = list(session.scalars(query.order_by(Hit.created_at.desc(), Hit.id).limit(limit)))
    for hit in hits:
        record(session, principal, Action.HIT_LIST, object_id=hit.id)
    if not hits:
        record(session, principal, Action.HIT_LIST)
    if box == "received":
        enquiries = _open_enquiries(session, runtime, {h.enquiry_id for h in hits if h.enquiry_id})
        return [_received(runtime, h, enquiries) for h in hits]
    return [_sent(runtime, h) for h in hits]


def _decidable(session: Session, principal: Principal, hit_id: str, action: Action) -> Hit:
    hit = None
    if policy.sees_content(principal) and len(hit_id) <= 36:
        received = and_(Hit.id == hit_id, policy.received_hits(principal))
        if session.scalar(select(Hit.id).where(received)) is not None:
            # Only then, exclusively, before the hit's row lock: a post matching meanwhile may add to
            # this pending hit, and sharing revises notices whatever their terms.
            enter_matching(session, exclusive=True)
            hit = session.scalar(select(Hit).where(received).with_for_update())
    if hit is None:
        attempted = hit_id[:64] if hit_id.isprintable() else None
        raise NotFound(on_rollback=denied(principal, action, attempted))
    if hit.status != PENDING:
        raise Conflict(f"this hit was already {hit.status}")
    return hit


def _decided(session: Session, runtime: Runtime, principal: Principal, hit: Hit) -> ReceivedHit:
    session.flush()
    enquiries = _open_enquiries(session, runtime, {hit.enquiry_id} if hit.enquiry_id else set())
    return _received(runtime, hit, enquiries)


def share_hit(session: Session, runtime: Runtime, principal: Principal, hit_id: str) -> ReceivedHit:
    """The owner shares: the counterpart party becomes a recipient of every matched notice (a new
    revision of each, through the notices service), and learns the answer."""
    hit = _decidable(session, principal, hit_id, Action.HIT_SHARE)
    for match in hit.matches:
        doc = current_document(session, runtime, principal, match.notice_id)
        if policy.party_reads_notice(hit.counterpart_party, principal.party, doc.recipients):
            continue  # already readable by the counterpart (e.g. shared since)
        widened = doc.model_copy(update={"recipients": sorted({*doc.recipients,
                                                               hit.counterpart_party})})
        revise_notice(session, runtime, principal, match.notice_id,
                      NoticeDocument.model_validate(widened.model_dump()))
    hit.status, hit.decided_at, hit.decided_by_user_id = SHARED, utcnow(), principal.user_id
    hit.revealed = True  # shared: the owner chose to reveal it, RED or not
    record(session, principal, Action.HIT_SHARE, object_id=hit.id)
    _notify(session, hit.counterpart_party, "hit.answered", hit.id)
    return _decided(session, runtime, principal, hit)


def decline_hit(session: Session, runtime: Runtime, principal: Principal, hit_id: str,
                reason: str | None) -> ReceivedHit:
    """The owner declines, optionally with a reason the counterpart sees; nothing becomes visible."""
    hit = _decidable(session, principal, hit_id, Action.HIT_DECLINE)
    hit.status, hit.decided_at, hit.decided_by_user_id = DECLINED, utcnow(), principal.user_id
    if reason:
        sealed = runtime.envelope.seal(reason.encode(), reason_aad(hit.id))
        hit.reason_key_version, hit.reason_wrapped_key = sealed.key_version, sealed.wrapped_key
        hit.reason_nonce, hit.reason_ciphertext = sealed.nonce, sealed.ciphertext
    record(session, principal, Action.HIT_DECLINE, object_id=hit.id)
    if hit.revealed:
        _notify(session, hit.counterpart_party, "hit.answered", hit.id)
    return _decided(session, runtime, principal, hit)

