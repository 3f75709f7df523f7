"""Blind-index terms for request subjects, so the requester and addressee find them by name like notices."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app import policy
from app.audit.record import Action, record
from app.auth.principal import Principal
from app.crypto.keyring import Keyring
from app.notices.schemas import Subject
from app.requests.models import CooperationRequest, RequestSubjectTerm
from app.runtime import Runtime
from app.search.blind_index import query_terms, subject_terms
from app.search.indexer import searchable_version
from app.search.schemas import RequestSubjectMatch, SubjectQuery
from app.search.service import (
    CANDIDATES_PER_RESULT,
    MIN_CANDIDATES,
    ROW_BUDGET,
    _Probe,
    score_subject,
)


def content_aad(request_id: str, requester: str, addressee: str) -> bytes:
    """Binds a request's sealed content to its row and both parties: moved or re-routed, it won't open."""
    return f"arx/request|{request_id}|{requester}|{addressee}".encode()


def term_rows(keyring: Keyring, version: int, request_id: str,
              subjects: Sequence[Subject]) -> list[dict[str, Any]]:
    """The request_subject_term rows of a request's subjects under one index version."""
    return [{"request_id": request_id, "subject_no": no, "key_version": version, "term": term}
            for no, subject in enumerate(subjects)
            for term in sorted(subject_terms(keyring, version, subject))]


def index_request_subjects(session: Session, runtime: Runtime, request_id: str,
                           subjects: Sequence[Subject]) -> None:
    """Terms of a new request's subjects under every usable index version (as for notices)."""
    keyring = runtime.keys.current()
    rows = [row for version in keyring.usable_versions("index")
            for row in term_rows(keyring, version, request_id, subjects)]
    if rows:
        session.execute(insert(RequestSubjectTerm), rows)


def search_request_subjects(session: Session, runtime: Runtime, principal: Principal,
                            query: SubjectQuery) -> list[RequestSubjectMatch]:
    """Subjects of requests the caller's party sent or received matching the query, best first: the
    same blind-index terms and scoring as notice search, filtered by policy.visible_requests in SQL
    before anything is decrypted; one audit hit entry per returned request."""
    if not policy.can_search_subjects(principal):
        return []
    probe = _Probe.of(query)
    keyring = runtime.keys.current()
    version = searchable_version(session, keyring)
    weights = query_terms(keyring, version, name=query.name, birth_date=query.birth_date)
    if not weights:
        return []
    rows = session.execute(
        select(RequestSubjectTerm.request_id, RequestSubjectTerm.subject_no, RequestSubjectTerm.term)
        .join(CooperationRequest, CooperationRequest.id == RequestSubjectTerm.request_id)
        .where(RequestSubjectTerm.key_version == version, RequestSubjectTerm.term.in_(list(weights)),
               policy.visible_requests(principal))
        # Past the budget, which rows are kept follows the order, never the plan (whose choice could
        # depend on statistics over rows the caller may not see).
        .order_by(RequestSubjectTerm.request_id, RequestSubjectTerm.subject_no, RequestSubjectTerm.term)
        .limit(ROW_BUDGET))
    scores: dict[tuple[str, int], float] = {}
    for request_id, subject_no, term in rows:
        scores[(request_id, subject_no)] = scores.get((request_id, subject_no), 0.0) + weights[term]
    candidates = sorted(scores, key=lambda k: (-scores[k], k))[:max(MIN_CANDIDATES,
                                                                   CANDIDATES_PER_RESULT * query.limit)]
    if not candidates:  # most searches: no request subject shares a term (no second round trip)
        return []
    requests = {r.id: r for r in session.scalars(select(CooperationRequest).where(
        CooperationRequest.id.in_({i for i, _ in candidates}), policy.visible_requests(principal)))}
    subjects: dict[str, list[dict[str, Any]]] = {}
    for rid, request in requests.items():
        content = json.loads(runtime.envelope.open(request.sealed(), content_aad(
            request.id, request.requester, request.addressee)))
        subjects[rid] = content.get("subjects", [])
    scored = []
    for request_id, subject_no in candidates:
        stored = subjects.get(request_id, [])
        if subject_no < len(stored) and (found := score_subject(probe, stored[subject_no])):
            scored.append((found, request_id, subject_no))
    scored.sort(key=lambda s: s[0].rank(s[1], s[2]))
    matches = [RequestSubjectMatch(request_id=rid, subject=Subject.model_validate(
        subjects[rid][no]), score=found.score, matched_on=found.matched_on,
        explanation=found.explanation)
        for found, rid, no in scored[:query.limit]]
    for rid in dict.fromkeys(m.request_id for m in matches):
        record(session, principal, Action.SEARCH_HIT, object_id=rid)
    return matches
