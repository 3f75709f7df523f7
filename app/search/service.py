"""Suspect search: blind-index candidates restricted to visible notices, decrypted, rescored, audited."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from statistics import fmean
from typing import Any, ClassVar

from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler
from sqlalchemy import (
    ColumnElement,
    LargeBinary,
    Select,
    Subquery,
    and_,
    bindparam,
    func,
    literal,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.orm import Session

from app import policy
from app.audit.record import Action, record, record_each
from app.auth.principal import Principal
from app.db import plan_with_parameters
from app.errors import InvalidInput
from app.notices.models import Notice
from app.notices.schemas import Subject
from app.notices.service import CURRENT_CONTENT, open_row
from app.runtime import Runtime
from app.search.blind_index import Purpose, purpose_terms, query_terms
from app.search.indexer import searchable_version
from app.search.models import SubjectTerm
from app.search.names import equivalents, is_patronymic, split_affix
from app.search.normalise import NameForm, identifier_key, name_form, phonetic
from app.search.schemas import Explanation, Feature, SubjectMatch, SubjectQuery

# Candidates decrypted per requested result: enough for rescoring to reorder the blind pre-ranking.
CANDIDATES_PER_RESULT = 3
MIN_CANDIDATES = 30
DATED_CANDIDATES = 10  # more candidates among subjects born on the queried date (_candidates)
DATED_POOL = 64  # of which at most this many are ranked again on every query term (_by_every_term)
# Index rows one search may read: terms are taken rarest first (the most telling, like IDF) until
# their rows would exceed the budget, so a very common name token or a birth year is left out like a
# stop word and the work of a search stays bounded whatever the index size. Rows are counted among
# current revisions of notices the caller may see, never platform-wide: otherwise which terms are
# kept would tell a caller how common a name is in notices it cannot read. Counts stop at the budget.
# 300: at a million subjects recall on the labelled set was as good as with 500 or 1,000, and the
# first count of a term (about 8 µs a visible row on PostgreSQL) is what the slowest searches wait for.
ROW_BUDGET = 300
NAME_AGREES = 0.85  # name similarity from which "name"/"alias" is reported in matched_on
NAME_FLOOR = 0.6  # below this (and without an identifier hit) a candidate is not a match
MIN_SCORE = 0.5
WEIGHT_NAME, WEIGHT_BIRTH, WEIGHT_NATIONALITY = 0.7, 0.2, 0.1


_VOWEL_RUNS = re.compile(r"[aeiouy]+")
_CONSONANT_RUNS = re.compile(r"[^aeiouy]+")
_ENDING_VOWELS = frozenset("aeiouyw")
TOKEN_AGREES = 0.85  # a token with a counterpart this similar counts as matched
EQUIVALENT = 0.96  # another language's form of the same name (Volodymyr/Vladimir, Putins/Putin)


def _shape(token: str) -> str:
    """Where vowels are written: Bashar (cvcvc) and Bushra (cvccv) share a skeleton, not a shape."""
    return _CONSONANT_RUNS.sub("c", _VOWEL_RUNS.sub("v", token))


# The name caches are sized by what they are hit for, measured (bench.search, each database from empty
# caches): token pairs recur across candidates and searches (70 % hits at 65,536 entries, the same as at
# 262,144), while a pair of whole names almost never recurs outside one search (2 % hits), and each entry
# keeps both names alive. Larger bounds bought no speed and cost about 100 MiB a worker once full.
@lru_cache(maxsize=65_536)
def _token_similarity(a: str, b: str, abjad: bool = False) -> float:
    """Similarity of two folded tokens in [0, 1]. Abjad: one of them was written without vowels."""
    if a == b:
        return 1.0
    if (parts := split_affix(a, b)) is not None:
        # Abdulkarim and Abdullah share only "Abd": compare what follows it (ALLAH, -uddin alike).
        return 0.5 + 0.5 * _token_similarity(*parts, abjad)
    similarity = JaroWinkler.normalized_similarity(a, b)
    key, other = phonetic(a), phonetic(b)
    if key and key == other and (abjad or _shape(a) == _shape(b)):
        # Same skeleton: a transliteration variant (Yanukovych/Ianukovich), trusted more when longer.
        boost = 0.92 if len(key) >= 3 else 0.85
        if abjad:
            # Without written short vowels an equal skeleton is all the agreement there can be; a
            # written long vowel closing one (كريمي) should close the other (Karimi, not Karim).
            boost = (0.92 if len(key) >= 2 else 0.88) + (
                0.02 if (a[-1] in _ENDING_VOWELS) == (b[-1] in _ENDING_VOWELS) else -0.02)
        similarity = max(similarity, boost)
    elif abjad and len(key) >= 2 and key.replace("f", "") == other.replace("f", ""):
        # و is v in Parviz and Mousavi but a vowel in Yusuf: without written vowels, v is optional.
        similarity = max(similarity, 0.88)
    return similarity


def _best(token: str, other: NameForm, abjad: bool) -> tuple[float, str]:
    """The closest of other's words to token, or to one of token's equivalent forms (another
    language's form of the same name counts at most EQUIVALENT)."""
    best, found = 0.0, ""
    for word in other.words:
        similarity = _token_similarity(token, word, abjad)
        if similarity > best:
            best, found = similarity, word
    for alt in equivalents(token):
        if best >= EQUIVALENT:
            break
        for word in other.words:
            similarity = min(EQUIVALENT, _token_similarity(alt, word, abjad))
            if similarity > best:
                best, found = similarity, word
    return best, found


@dataclass(frozen=True)
class NameAgreement:
    """How two normalised names agree: the similarity and the features that produced it."""

    similarity: float
    forward: float  # mean agreement of the query's tokens with the candidate
    backward: float  # mean agreement of the candidate's tokens with the query
    full: float  # the weakest agreement of any token on either side (in any order)
    matched: tuple[str, ...]  # query tokens with a counterpart
    unmatched: tuple[str, ...]  # query tokens without one
    extra: tuple[str, ...]  # candidate tokens without one
    whole: float  # closeness of the whole names (tokens aligned), for tie-breaking

    EMPTY: ClassVar[NameAgreement]


NameAgreement.EMPTY = NameAgreement(0.0, 0.0, 0.0, 0.0, (), (), (), 0.0)
# A name whose tokens all agree both ways outranks one that agrees only in part (father and son
# sharing names; Sokolov and Sokolenko): the weakest token's agreement counts on its own. A
# candidate's patronymic the query omits costs half in the backward mean and nothing in the weakest.
W_FORWARD, W_BACKWARD, W_FULL = 0.5, 0.25, 0.25
PATRONYMIC_MISSING = 0.5


@lru_cache(maxsize=4096)  # sized above (_token_similarity)
def compare_names(query: NameForm, candidate: NameForm) -> NameAgreement:
    """Order-insensitive agreement of two normalised names."""
    if not query.tokens or not candidate.tokens:
        return NameAgreement.EMPTY
    abjad = query.abjad or candidate.abjad
    forward = [_best(q, candidate, abjad) for q in query.tokens]
    backward = [_best(c, query, abjad)[0] for c in candidate.tokens]
    omitted = [s < TOKEN_AGREES and is_patronymic(c)
               for c, s in zip(candidate.tokens, backward, strict=True)]
    weights = [PATRONYMIC_MISSING if o else 1.0 for o in omitted]
    unmatched = tuple(q for q, (s, _) in zip(query.tokens, forward, strict=True) if s < TOKEN_AGREES)
    extra = tuple(c for c, s in zip(candidate.tokens, backward, strict=True) if s < TOKEN_AGREES)
    weakest = min([s for s, _ in forward] + [s for s, o in zip(backward, omitted, strict=True)
                                             if not o])
    f = fmean(s for s, _ in forward)
    b = sum(w * s for w, s in zip(weights, backward, strict=True)) / sum(weights)
    # The query's tokens in the order of the candidate tokens they matched, then the rest.
    position = {t: n for n, t in enumerate(candidate.words)}
    aligned = sorted(query.tokens, key=lambda q: position.get(dict(zip(
        query.tokens, (w for _, w in forward), strict=True))[q], len(position)))
    whole = fuzz.ratio(" ".join(aligned), " ".join(candidate.tokens)) / 100
    return NameAgreement(
        similarity=W_FORWARD * f + W_BACKWARD * b + W_FULL * weakest, forward=f, backward=b,
        full=weakest, matched=tuple(q for q in query.tokens if q not in unmatched),
        unmatched=unmatched, extra=extra, whole=whole)


def name_similarity(query: NameForm, candidate: NameForm) -> float:
    """How well two normalised names agree in [0, 1], ignoring token order and spacing; missing
    tokens on the candidate's side (middle names) cost less than query tokens left unmatched."""
    return compare_names(query, candidate).similarity


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


@dataclass(frozen=True)
class Scored:
    """A decrypted subject's score, what agreed (the contract's matched_on) and why (explanation)."""

    score: float
    matched_on: list[str]
    explanation: Explanation
    whole: float  # tie-break: closeness of the whole name

    def rank(self, *keys: object) -> tuple[object, ...]:
        """Sort key: best score first, then the closest whole name, then keys (deterministic)."""
        return (-self.score, -round(self.whole, 4), *keys)


def score_subject(probe: _Probe, subject: dict[str, Any]) -> Scored | None:
    """Score, what agreed and why for one decrypted subject, or None when it is not a match."""
    names = [(subject["name"], "name"), *((a, "alias") for a in subject.get("aliases", []))]
    best: tuple[float, float, int] | None = None
    agreement, compared, via = NameAgreement.EMPTY, subject["name"], "name"
    for n, (text, kind) in enumerate(names):
        found = compare_names(probe.form, name_form(text))
        key = (found.similarity, found.whole, -n)
        if best is None or key > best:
            best, agreement, compared, via = key, found, text, kind
    similarity = agreement.similarity
    matched = [via] if similarity >= NAME_AGREES else []
    features: list[tuple[str, float, float, str | None]] = []
    if len(probe.identifier) >= 4 and any(identifier_key(i["value"]) == probe.identifier
                                          for i in subject.get("identifiers", [])):
        similarity = 1.0
        matched.append("identifier")
    if similarity < NAME_FLOOR:
        return None
    if "identifier" in matched:
        features.append(("identifier", 1.0, WEIGHT_NAME, "the query is one of the subject's identifiers"))
    else:
        features.append(("name", similarity, WEIGHT_NAME, f"compared with the subject's {via}"))
    if probe.query.birth_date is not None:
        value, what = _birth_agreement(probe.query.birth_date, subject.get("birth_date"))
        features.append(("birth_date", value, WEIGHT_BIRTH,
                         {"birth_date": "same date", "birth_year": "same year"}.get(
                             what or "", "unknown" if subject.get("birth_date") is None
                             else "different")))
        matched += [what] if what else []
    if probe.query.nationality is not None:
        # Compared upper-cased: revisions sealed before codes were canonicalised may hold "cod".
        stored = subject.get("nationality")
        same = stored is not None and stored.upper() == probe.query.nationality
        features.append(("nationality", 0.5 if stored is None else float(same), WEIGHT_NATIONALITY,
                         "unknown" if stored is None else "same" if same else "different"))
        matched += ["nationality"] if same else []
    total = sum(w for _, _, w, _ in features)
    score = sum(w * v for _, v, w, _ in features) / total
    if score < MIN_SCORE:
        return None
    explanation = Explanation(
        compared_name=compared, name_similarity=round(agreement.similarity, 4),
        tokens_matched=list(agreement.matched), tokens_unmatched=list(agreement.unmatched),
        candidate_tokens_unmatched=list(agreement.extra), whole_name=round(agreement.whole, 4),
        features=[Feature(feature=f, value=round(v, 4), weight=round(w / total, 4),
                          contribution=round(w * v / total, 4), detail=d)
                  for f, v, w, d in features])
    return Scored(round(score, 4), matched, explanation, agreement.whole)


# Joins an index row to its notice when the row belongs to the current revision.
_CURRENT = and_(Notice.id == SubjectTerm.notice_id, Notice.current_revision == SubjectTerm.revision)


@lru_cache(maxsize=4096)
def _count_statement(scope: ColumnElement[bool], size: int) -> Select[Any]:
    """(term, count of its rows in current revisions of notices within scope, stopping at cap) for
    each of size terms bound as t0, t1, … (with version and cap), in one round trip: one correlated
    count over a list of terms (a CTE: SQLite has no column aliases on a derived table). Searches
    count only what their principal may see (policy's filter, in SQL), which keeps the choice of terms,
    hence candidates, matches, order and scores, independent of every notice it cannot see (issue 11).

    Built once per scope and size (policy gives one scope object per party and role; the cache holds
    it, so its identity is never reused): building and keying the statement cost a search more than
    running it. A UNION ALL of bound parameters, not VALUES: a VALUES list with data has no cache key."""
    wanted = union_all(*(select(bindparam(f"t{i}", type_=LargeBinary).label("term"))
                         for i in range(size))).cte("wanted")
    counted = (select(literal(1)).select_from(SubjectTerm)
               .join(Notice, _CURRENT)
               .where(SubjectTerm.key_version == bindparam("version"), SubjectTerm.term == wanted.c.term,
                      scope)
               .correlate(wanted).limit(bindparam("cap")).subquery())
    return select(wanted.c.term, select(func.count()).select_from(counted).scalar_subquery())


# Pads a term list: no term is empty, so its count is an index probe that finds nothing.
_NO_TERM = b""


def _padded(terms: list[bytes]) -> list[bytes]:
    """terms, padded with _NO_TERM up to the next power of two: the list's length is part of the
    statement, so a few lengths keep building and compiling it out of the search path. (Repeating a
    real term instead counted its rows again: up to ROW_BUDGET rows each.)"""
    size = 8
    while size < len(terms):
        size *= 2
    return terms + [_NO_TERM] * (size - len(terms))


def capped_counts(session: Session, version: int, terms: Iterable[bytes], scope: ColumnElement[bool],
                  budget: int = ROW_BUDGET) -> dict[bytes, int]:
    """How many rows each term has in current revisions of notices within scope, counting no further
    than budget + 1 (a count above budget means "over budget", however far)."""
    wanted = sorted(set(terms))
    if not wanted:
        return {}
    padded = _padded(wanted)
    counted = {bytes(t): n for t, n in session.execute(
        _count_statement(scope, len(padded)),
        {"version": version, "cap": budget + 1, **{f"t{i}": t for i, t in enumerate(padded)}}).tuples()}
    counted.pop(_NO_TERM, None)
    return counted


def fitting(counts: dict[bytes, int], budget: int = ROW_BUDGET) -> list[bytes]:
    """The rarest terms whose rows together fit budget, rarest first; the rarest one alone when even
    it is over budget."""
    kept: list[bytes] = []
    rows = 0
    for term in sorted(counts, key=lambda t: (counts[t], t)):
        if kept and rows + counts[term] > budget:
            break
        kept.append(term)
        rows += counts[term]
    return kept


def first_rows(scope: ColumnElement[bool], limit: int) -> Subquery:
    """(notice_id, revision, subject_no, term) of the rows of the terms bound as `terms` (with
    `version`) in current revisions within scope: the first limit rows by (notice, subject), whatever
    the query plan.

    The terms are fitting()'s choice, which is what keeps the reading bounded: several terms whose rows
    together fit the budget, or the one rarest term however many rows it has, read in the order of
    ix_subject_term_lookup (key_version, term, notice_id, subject_no, revision) up to limit (both
    databases plan a one-element IN as an equality), so that a term with a million rows costs what one
    with limit rows does. A term counted within the budget was counted at most seconds ago
    (_TermCounts): it adds at most what was posted since. (One statement, not a union of per-term
    reads: building and planning sixteen branches cost every search more than the rows they bounded.)"""
    return (select(SubjectTerm.notice_id, SubjectTerm.revision, SubjectTerm.subject_no, SubjectTerm.term)
            .join(Notice, _CURRENT)
            .where(SubjectTerm.key_version == bindparam("version"),
                   SubjectTerm.term.in_(bindparam("terms", expanding=True)), scope)
            .order_by(SubjectTerm.notice_id, SubjectTerm.subject_no).limit(limit)
            .subquery("first_rows"))


@lru_cache(maxsize=4096)
def _candidate_statement(scope: ColumnElement[bool]) -> Select[Any]:
    """Search's pre-ranking read for one scope, built once (as _count_statement)."""
    first = first_rows(scope, 2 * ROW_BUDGET)
    return select(first.c.notice_id, first.c.subject_no, first.c.term)


@lru_cache(maxsize=4096)
def _document_statement(scope: ColumnElement[bool]) -> Select[Any]:
    """The candidates' current revisions for one scope (ids bound at execution), built once."""
    return CURRENT_CONTENT.where(Notice.id.in_(bindparam("ids", expanding=True)), scope)


class _TermCounts:
    """Capped counts of visible rows of recently queried terms, per party (what a party may see depends
    on nothing else). Common terms recur in many searches and cost the most to count, so each count is
    kept a while rather than made on every search; walking a term's invisible rows happens at most once
    per party and term in that while (README, "timing").

    A term past the budget stays past it (left out of candidate reads, or read alone in index order):
    its count is kept five minutes. A term within the budget is kept ten seconds only: kept longer, it
    could be posted a thousand times over before its count expired (five minutes of the soak's load),
    and every search would then read all its rows and sort them (search p50 55 -> 122 ms in that soak)."""

    TTL_SECONDS = 300.0  # a count past the budget
    WITHIN_BUDGET_TTL_SECONDS = 10.0
    MAX_ENTRIES = 200_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._counts: dict[tuple[str, int, str, bytes], tuple[int, float]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()

    def get(self, session: Session, db: str, principal: Principal, version: int,
            terms: list[bytes]) -> dict[bytes, int]:
        now = self._clock()
        scope = (db, version, principal.party)
        with self._lock:
            known = {t: c for t in terms if (c := self._counts.get((*scope, t))) and c[1] > now}
        missing = [t for t in terms if t not in known]
        counted = capped_counts(session, version, missing, policy.visible_notices(principal),
                                ROW_BUDGET)
        with self._lock:
            if len(self._counts) > self.MAX_ENTRIES:
                self._counts.clear()
            self._counts.update({(*scope, t): (n, now + (self.TTL_SECONDS if n > ROW_BUDGET
                                                         else self.WITHIN_BUDGET_TTL_SECONDS))
                                 for t, n in counted.items()})
        return {**{t: c for t, (c, _) in known.items()}, **counted}


_term_counts = _TermCounts()


def _selective_terms(session: Session, runtime: Runtime, principal: Principal, version: int,
                     weights: dict[bytes, float]) -> dict[bytes, float]:
    """The rarest query terms (among what principal may see) whose rows fit ROW_BUDGET (at least
    the rarest one)."""
    counts = _term_counts.get(session, runtime.db.url, principal, version, list(weights))
    return {term: weights[term] for term in fitting(counts, ROW_BUDGET)}


def _candidates(session: Session, principal: Principal, version: int, weights: dict[bytes, float],
                limit: int, born: set[bytes], every: dict[bytes, float]) -> list[tuple[str, int]]:
    """(notice id, subject number) of the best pre-ranked subjects in current revisions of notices
    principal may see: the visibility filter runs in SQL, before ranking and the limit. The rows
    are few (ROW_BUDGET), so they are summed here rather than in a per-query CASE expression.

    Only when the one term kept is itself over the budget (a search for "Muhammad" alone) can there be
    more: then the database keeps the first rows by (notice id, subject) — all are ranked equally, and
    those are the ones the ranking's tie-break would keep — and Python never sees the rest. The order
    makes the choice independent of the query plan, hence of statistics over invisible rows. Counts
    may be minutes old (a term counted small may since have grown past the budget), hence the margin
    (first_rows)."""
    rows = session.execute(_candidate_statement(policy.visible_notices(principal)),
                           {"version": version, "terms": list(weights)})
    scores: dict[tuple[str, int], float] = {}
    dated: set[tuple[str, int]] = set()
    for notice_id, subject_no, term in rows:
        scores[(notice_id, subject_no)] = scores.get((notice_id, subject_no), 0.0) + weights[term]
        if term in born:
            dated.add((notice_id, subject_no))
    ranked = sorted(scores, key=lambda k: (-scores[k], k))
    chosen = ranked[:limit]
    # Subjects born on the queried date keep DATED_CANDIDATES places of their own, best pre-ranked
    # first: a name written in another script or shortened (Belal Haddad for بلال جمال الدين حداد)
    # shares few terms with the query, and namesakes born on other days would otherwise fill the list.
    taken = set(chosen)
    others = [k for k in ranked if k in dated and k not in taken][:DATED_POOL]
    if len(others) > DATED_CANDIDATES:
        others = _by_every_term(session, version, others, every)
    return chosen + others[:DATED_CANDIDATES]


def _by_every_term(session: Session, version: int, subjects: list[tuple[str, int]],
                   every: dict[bytes, float]) -> list[tuple[str, int]]:
    """subjects ranked by every query term they are indexed under, the terms left out of the budget
    included (at most DATED_POOL subjects' own index rows are read, through ix_subject_term_subject).
    Among many people born on the queried date, the one whose name shares only common terms with the
    query (Belal Haddad for بلال جمال الدين حداد: the skeletons of Belal and Haddad) comes first."""
    rows = session.execute(
        select(SubjectTerm.notice_id, SubjectTerm.subject_no, SubjectTerm.term)
        .join(Notice, _CURRENT)
        .where(tuple_(SubjectTerm.notice_id, SubjectTerm.subject_no).in_(subjects),
               SubjectTerm.key_version == version, SubjectTerm.term.in_(list(every))))
    scores = dict.fromkeys(subjects, 0.0)
    for notice_id, subject_no, term in rows:
        scores[(notice_id, subject_no)] += every[bytes(term)]
    return sorted(subjects, key=lambda k: (-scores[k], k))


def _documents(session: Session, runtime: Runtime, principal: Principal,
               notice_ids: set[str]) -> dict[str, dict[str, Any]]:
    """Decrypted current documents of the candidate notices (visibility applied again: a notice's
    recipients may have changed since the candidate query on a read-committed database)."""
    rows = session.execute(_document_statement(policy.visible_notices(principal)),
                           {"ids": sorted(notice_ids)})
    return {row.id: open_row(runtime, row) for row in rows}


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
    plan_with_parameters(session)
    keyring = runtime.keys.current()
    version = searchable_version(session, keyring)
    every = query_terms(keyring, version, name=query.name, birth_date=query.birth_date)
    weights = _selective_terms(session, runtime, principal, version, every)
    born = purpose_terms(keyring, version, Purpose.BIRTH_DATE,
                         {query.birth_date.isoformat()} if query.birth_date else set())
    candidates = _candidates(session, principal, version, weights,
                             max(MIN_CANDIDATES, CANDIDATES_PER_RESULT * query.limit), born, every)
    documents = _documents(session, runtime, principal, {n for n, _ in candidates})
    scored: list[tuple[Scored, str, int]] = []
    for notice_id, subject_no in candidates:
        subjects = documents.get(notice_id, {}).get("subjects", [])
        if subject_no < len(subjects) and (found := score_subject(probe, subjects[subject_no])):
            scored.append((found, notice_id, subject_no))
    scored.sort(key=lambda s: s[0].rank(s[1], s[2]))
    matches = [SubjectMatch(notice_id=notice_id, subject_no=subject_no,
                            subject=Subject.model_validate(documents[notice_id]["subjects"][subject_no]),
                            score=found.score, matched_on=found.matched_on,
                            explanation=found.explanation)
               for found, notice_id, subject_no in scored[:query.limit]]
    record(session, principal, Action.SEARCH, detail=query.model_dump(mode="json"),
           envelope=runtime.envelope)
    # The search's own entry first, then one per notice found, as one INSERT (record_each): an ORM
    # object per hit, inserted with RETURNING at commit, cost about 1-2 ms more on PostgreSQL.
    record_each(session, principal, Action.SEARCH_HIT, list(dict.fromkeys(m.notice_id for m in matches)))
    return matches
