"""Suspect search: blind-index candidates restricted to visible notices, decrypted, rescored, audited."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import date
from statistics import fmean
from typing import Any

from rapidfuzz.distance import JaroWinkler
from sqlalchemy import LargeBinary, Select, and_, column, func, literal, select, values
from sqlalchemy.orm import Session, lazyload

from app import policy
from app.audit.record import Action, record
from app.auth.principal import Principal
from app.errors import InvalidInput
from app.notices.models import Notice, NoticeRevision
from app.notices.schemas import Subject
from app.notices.service import open_content
from app.runtime import Runtime
from app.search.blind_index import query_terms
from app.search.indexer import searchable_version
from app.search.models import SubjectTerm
from app.search.normalise import NameForm, identifier_key, name_form, phonetic
from app.search.schemas import SubjectMatch, SubjectQuery

# Candidates decrypted per requested result: enough for rescoring to reorder the blind pre-ranking.
CANDIDATES_PER_RESULT = 3
MIN_CANDIDATES = 30
# Index rows one search may read: terms are taken rarest first (the most telling, like IDF) until
# their rows would exceed the budget, so a very common name token or a birth year is left out like a
# stop word and the work of a search stays bounded whatever the index size. Rows are counted among
# current revisions of notices the caller may see, never platform-wide: otherwise which terms are
# kept would tell a caller how common a name is in notices it cannot read. Counts stop at the budget.
ROW_BUDGET = 1000
NAME_AGREES = 0.85  # name similarity from which "name"/"alias" is reported in matched_on
NAME_FLOOR = 0.6  # below this (and without an identifier hit) a candidate is not a match
MIN_SCORE = 0.5
WEIGHT_NAME, WEIGHT_BIRTH, WEIGHT_NATIONALITY = 0.7, 0.2, 0.1


def _token_similarity(a: str, b: str) -> float:
    similarity = JaroWinkler.normalized_similarity(a, b)
    key = phonetic(a)
    if key and key == phonetic(b):
        # Same skeleton: a transliteration variant (Yanukovych/Ianukovich), trusted more when longer.
        similarity = max(similarity, 0.92 if len(key) >= 3 else 0.85)
    return similarity


def name_similarity(query: NameForm, candidate: NameForm) -> float:
    """How well two normalised names agree in [0, 1], ignoring token order and spacing; missing
    tokens on the candidate's side (middle names) cost less than query tokens left unmatched."""
    if not query.tokens or not candidate.tokens:
        return 0.0
    forward = fmean(max(_token_similarity(q, c) for c in candidate.words) for q in query.tokens)
    backward = fmean(max(_token_similarity(c, q) for q in query.words) for c in candidate.tokens)
    return 0.7 * forward + 0.3 * backward


@dataclass(frozen=True)
class _Probe:
    """A query, normalised once."""

    query: SubjectQuery
    form: NameForm
    identifier: str

    @classmethod
    def of(cls, query: SubjectQuery) -> _Probe:
        return cls(query, name_form(query.name), identifier_key(query.name))


def _birth_agreement(wanted: date, stored: str | None) -> tuple[float, str | None]:
    if stored is None:
        return 0.5, None  # unknown: neither for nor against
    if stored == wanted.isoformat():
        return 1.0, "birth_date"
    if stored[:4] == f"{wanted.year:04d}":
        return 0.6, "birth_year"
    return 0.0, None


def score_subject(probe: _Probe, subject: dict[str, Any]) -> tuple[float, list[str]] | None:
    """Score and what agreed for one decrypted subject, or None when it is not a match."""
    names = [(subject["name"], "name"), *((a, "alias") for a in subject.get("aliases", []))]
    similarity, via = max((name_similarity(probe.form, name_form(text)), kind) for text, kind in names)
    matched = [via] if similarity >= NAME_AGREES else []
    if len(probe.identifier) >= 4 and any(identifier_key(i["value"]) == probe.identifier
                                          for i in subject.get("identifiers", [])):
        similarity = 1.0
        matched.append("identifier")
    if similarity < NAME_FLOOR:
        return None
    parts = [(WEIGHT_NAME, similarity)]
    if probe.query.birth_date is not None:
        agreement, what = _birth_agreement(probe.query.birth_date, subject.get("birth_date"))
        parts.append((WEIGHT_BIRTH, agreement))
        matched += [what] if what else []
    if probe.query.nationality is not None:
        # Compared upper-cased: revisions sealed before codes were canonicalised may hold "cod".
        stored = subject.get("nationality")
        same = stored is not None and stored.upper() == probe.query.nationality
        parts.append((WEIGHT_NATIONALITY, 0.5 if stored is None else float(same)))
        matched += ["nationality"] if same else []
    score = sum(w * v for w, v in parts) / sum(w for w, _ in parts)
    return (round(score, 4), matched) if score >= MIN_SCORE else None


def _count_statement(principal: Principal, version: int, terms: list[bytes]) -> Select[Any]:
    """(term, capped count of its visible rows) for every term, in one round trip: one correlated
    count over a VALUES list (a CTE: SQLite has no column aliases on a derived table), each stopping
    at the cap. Only rows of current revisions of notices
    principal may see are counted (policy's filter, in SQL), which keeps the choice of terms, hence
    candidates, matches, order and scores, independent of every notice it cannot see (issue 11)."""
    wanted = values(column("term", LargeBinary), name="wanted").data([(t,) for t in terms]).cte()
    visible = (select(literal(1)).select_from(SubjectTerm)
               .join(Notice, and_(Notice.id == SubjectTerm.notice_id,
                                  Notice.current_revision == SubjectTerm.revision))
               .where(SubjectTerm.key_version == version, SubjectTerm.term == wanted.c.term,
                      policy.visible_notices(principal))
               .correlate(wanted).limit(ROW_BUDGET).subquery())
    return select(wanted.c.term, select(func.count()).select_from(visible).scalar_subquery())


class _TermCounts:
    """Capped counts of visible rows of recently queried terms, per party (what a party may see
    depends on nothing else). Common terms recur in many searches and their counts change slowly,
    so each is counted once per TTL rather than on every search."""

    TTL_SECONDS = 300.0
    MAX_ENTRIES = 200_000

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int, str, bytes], tuple[int, float]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()

    def get(self, session: Session, db: str, principal: Principal, version: int,
            terms: list[bytes]) -> dict[bytes, int]:
        now = time.monotonic()
        scope = (db, version, principal.party)
        with self._lock:
            known = {t: c for t in terms if (c := self._counts.get((*scope, t))) and c[1] > now}
        missing = [t for t in terms if t not in known]
        counted = {bytes(t): n for t, n in session.execute(
            _count_statement(principal, version, missing)).tuples()} if missing else {}
        with self._lock:
            if len(self._counts) > self.MAX_ENTRIES:
                self._counts.clear()
            self._counts.update({(*scope, t): (n, now + self.TTL_SECONDS)
                                 for t, n in counted.items()})
        return {**{t: c for t, (c, _) in known.items()}, **counted}


_term_counts = _TermCounts()


def _selective_terms(session: Session, runtime: Runtime, principal: Principal, version: int,
                     weights: dict[bytes, float]) -> dict[bytes, float]:
    """The rarest query terms (among what principal may see) whose rows fit ROW_BUDGET (at least
    the rarest one)."""
    counts = _term_counts.get(session, runtime.db.url, principal, version, list(weights))
    kept: dict[bytes, float] = {}
    rows = 0
    for term in sorted(weights, key=lambda t: (counts[t], t)):
        if kept and rows + counts[term] > ROW_BUDGET:
            break
        kept[term] = weights[term]
        rows += counts[term]
    return kept


def _candidates(session: Session, principal: Principal, version: int, weights: dict[bytes, float],
                limit: int) -> list[tuple[str, int]]:
    """(notice id, subject number) of the best pre-ranked subjects in current revisions of notices
    principal may see: the visibility filter runs in SQL, before ranking and the limit. The rows
    are few (ROW_BUDGET), so they are summed here rather than in a per-query CASE expression."""
    rows = session.execute(
        select(SubjectTerm.notice_id, SubjectTerm.subject_no, SubjectTerm.term)
        .join(Notice, and_(Notice.id == SubjectTerm.notice_id,
                           Notice.current_revision == SubjectTerm.revision))
        .where(SubjectTerm.key_version == version, SubjectTerm.term.in_(list(weights)),
               policy.visible_notices(principal)))
    scores: dict[tuple[str, int], float] = {}
    for notice_id, subject_no, term in rows:
        scores[(notice_id, subject_no)] = scores.get((notice_id, subject_no), 0.0) + weights[term]
    return sorted(scores, key=lambda k: (-scores[k], k))[:limit]


def _documents(session: Session, runtime: Runtime, principal: Principal,
               notice_ids: set[str]) -> dict[str, dict[str, Any]]:
    """Decrypted current documents of the candidate notices (visibility applied again: a notice's
    recipients may have changed since the candidate query on a read-committed database)."""
    rows = session.execute(
        select(Notice, NoticeRevision)
        .join(NoticeRevision, and_(NoticeRevision.notice_id == Notice.id,
                                   NoticeRevision.revision == Notice.current_revision))
        .where(Notice.id.in_(notice_ids), policy.visible_notices(principal))
        .options(lazyload(Notice.recipients), lazyload(Notice.paragraphs)))
    return {notice.id: open_content(runtime, notice, revision) for notice, revision in rows}


def search_subjects(session: Session, runtime: Runtime, principal: Principal,
                    query: SubjectQuery) -> list[SubjectMatch]:
    """Subjects of visible notices' current revisions matching the query, best first; audited with
    the query sealed and one hit entry per returned notice (originating States see who found them)."""
    policy.require(policy.can_search_subjects(principal), principal, Action.SEARCH,
                   detail="this role may not search subjects")
    probe = _Probe.of(query)
    if not probe.form.tokens and len(probe.identifier) < 4:
        raise InvalidInput("name: nothing searchable once titles and punctuation are removed",
                           errors=[{"field": "name", "message": "no name tokens"}])
    keyring = runtime.keys.current()
    version = searchable_version(session, keyring)
    weights = _selective_terms(session, runtime, principal, version, query_terms(
        keyring, version, name=query.name, birth_date=query.birth_date))
    candidates = _candidates(session, principal, version, weights,
                             max(MIN_CANDIDATES, CANDIDATES_PER_RESULT * query.limit))
    documents = _documents(session, runtime, principal, {n for n, _ in candidates})
    scored = []
    for notice_id, subject_no in candidates:
        subjects = documents.get(notice_id, {}).get("subjects", [])
        if subject_no < len(subjects) and (found := score_subject(probe, subjects[subject_no])):
            scored.append((found[0], notice_id, subject_no, found[1]))
    scored.sort(key=lambda s: (-s[0], s[1], s[2]))
    matches = [SubjectMatch(notice_id=notice_id, subject=Subject.model_validate(
        documents[notice_id]["subjects"][subject_no]), score=score, matched_on=matched)
               for score, notice_id, subject_no, matched in scored[:query.limit]]
    record(session, principal, Action.SEARCH, detail=query.model_dump(mode="json"),
           envelope=runtime.envelope)
    for notice_id in dict.fromkeys(m.notice_id for m in matches):
        record(session, principal, Action.SEARCH_HIT, object_id=notice_id)
    return matches
