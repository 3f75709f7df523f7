"""Strong matching over the blind index: which stored subjects share an identifier, or a very similar
name with the same birth date, with a probed subject. The same engine serves enquiries, automatic
deconfliction and standing enquiries.

Candidates come from the blind index (truncated terms, so each term also selects a few unrelated
rows); the server then opens a fixed number of candidate documents per probed subject and confirms on
the plaintext, padding with decryptions of a dummy document when fewer candidates exist. So the work of
a match does not depend on what matched (README, "Hit/no-hit enquiries"). Nothing opened here is ever
returned to the caller: only party codes leave this module's callers.
"""

from __future__ import annotations

import json
import secrets
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import Session, aliased, lazyload

from app.crypto.envelope import Envelope, Sealed
from app.crypto.keyring import Keyring
from app.enquiries.identifiers import normalise_identifier
from app.notices.models import Notice, NoticeRevision
from app.notices.service import open_content
from app.runtime import Runtime
from app.search.blind_index import Purpose, name_terms, purpose_terms
from app.search.models import SubjectTerm
from app.search.normalise import NameForm, identifier_key, name_form
from app.search.service import _token_similarity, name_similarity

# "Very similar name": the search engine's name score, capped by its weakest token (every token of
# the shorter name must have a close counterpart). On the labelled set of tests/search_variants.py,
# with the birth date equal, 0.90 keeps 78 % of true variants and admits 14 % of the deliberately
# near-miss distractors (the plain search score needs 0.95 for as few, and keeps only 68 %):
# tests/test_enquiries_threshold.py measures it.
STRONG_NAME = 0.90
# Candidate subjects opened per probed subject (identifier candidates first, then name and birth
# date candidates by how many name terms agree). Always this many decryptions, real or dummy.
CANDIDATES_PER_SUBJECT = 8
MAX_PROBE_NAMES = 5  # a notice subject's name and its first aliases


def strong_name(query: NameForm, candidate: NameForm) -> bool:
    if not query.tokens or not candidate.tokens:
        return False
    short, long_ = (query, candidate) if len(query.tokens) <= len(candidate.tokens) else (candidate, query)
    weakest = min(max(_token_similarity(t, c) for c in long_.words) for t in short.tokens)
    return min(name_similarity(query, candidate), weakest) >= STRONG_NAME


@dataclass(frozen=True)
class Probe:
    """One subject to match, normalised once."""

    names: tuple[str, ...]
    forms: tuple[NameForm, ...]
    birth_date: str | None
    identifiers: frozenset[tuple[str, str]]

    @classmethod
    def of(cls, subject: dict[str, Any]) -> Probe:
        """From a subject document (an enquiry's, or a notice's with its aliases)."""
        names = tuple(n for n in [subject.get("name"), *subject.get("aliases", [])] if n)
        names = names[:MAX_PROBE_NAMES]
        return cls(names=names, forms=tuple(name_form(n) for n in names),
                   birth_date=subject.get("birth_date"), identifiers=identifiers_of(subject))

    def terms(self, keyring: Keyring, version: int) -> tuple[set[bytes], set[bytes], set[bytes]]:
        """(identifier, birth-date, name) terms, as the indexer wrote them for matching subjects."""
        ids = {k for _, v in self.identifiers if len(k := identifier_key(v)) >= 4}
        id_terms = purpose_terms(keyring, version, Purpose.IDENTIFIER, ids)
        if self.birth_date is None or not self.names:
            return id_terms, set(), set()
        birth = purpose_terms(keyring, version, Purpose.BIRTH_DATE, {self.birth_date})
        names = set().union(*(name_terms(keyring, version, n) for n in self.names))
        return id_terms, birth, names


def identifiers_of(subject: dict[str, Any]) -> frozenset[tuple[str, str]]:
    nationality = subject.get("nationality")
    return frozenset((i["scheme"], normalise_identifier(i["scheme"], i["value"], nationality))
                     for i in subject.get("identifiers", []))


def strong_match(probe: Probe, subject: dict[str, Any]) -> list[str]:
    """What strongly agrees between probe and a stored subject ([] when nothing does). Name-only
    similarity never counts."""
    matched = []
    if probe.identifiers & identifiers_of(subject):
        matched.append("identifier")
    if probe.birth_date is not None and subject.get("birth_date") == probe.birth_date:
        stored = [name_form(n) for n in [subject["name"], *subject.get("aliases", [])][:MAX_PROBE_NAMES]]
        if any(strong_name(q, c) for q in probe.forms for c in stored):
            matched += ["name", "birth_date"]
    return matched


def as_iso(value: date | str | None) -> str | None:
    return value.isoformat() if isinstance(value, date) else value


# -- constant work: dummy decryptions ----------------------------------------------------------------
_dummies: weakref.WeakKeyDictionary[Envelope, tuple[int, Sealed]] = weakref.WeakKeyDictionary()
_DUMMY_AAD = b"arx/match-padding"


def pad_decryptions(envelope: Envelope, count: int) -> None:
    """Open a dummy document count times: the cost of the candidates that did not exist."""
    active = envelope.keys.current().active_version("data")
    held = _dummies.get(envelope)
    if held is None or held[0] != active:
        body = json.dumps({"subjects": [{"name": secrets.token_hex(12), "birth_date": "1970-01-01",
                                         "identifiers": []}] * 4, "narrative": "x" * 1500})
        held = _dummies[envelope] = (active, envelope.seal(body.encode(), _DUMMY_AAD))
    for _ in range(max(0, count)):
        json.loads(envelope.open(held[1], _DUMMY_AAD))


# -- candidates among notices -------------------------------------------------------------------------
@dataclass(frozen=True)
class NoticeCandidate:
    notice_id: str
    subject_no: int


def notice_candidates(session: Session, keyring: Keyring, version: int, probes: Sequence[Probe],
                      scope: ColumnElement[bool]) -> list[NoticeCandidate]:
    """Subjects of current revisions within scope that may strongly match one of probes, at most
    CANDIDATES_PER_SUBJECT per probe: identifier agreements first, then birth date plus most name
    terms. Two indexed queries whatever the data."""
    budget = CANDIDATES_PER_SUBJECT * len(probes)
    id_terms: set[bytes] = set()
    birth: set[bytes] = set()
    names: set[bytes] = set()
    for probe in probes:
        i, b, n = probe.terms(keyring, version)
        id_terms |= i
        birth |= b
        names |= n
    found: list[NoticeCandidate] = []
    current = and_(Notice.id == SubjectTerm.notice_id, Notice.current_revision == SubjectTerm.revision)
    if id_terms:
        rows = session.execute(
            select(SubjectTerm.notice_id, SubjectTerm.subject_no).join(Notice, current)
            .where(SubjectTerm.key_version == version, SubjectTerm.term.in_(sorted(id_terms)), scope)
            .order_by(SubjectTerm.notice_id, SubjectTerm.subject_no).limit(budget))
        found += [NoticeCandidate(n, s) for n, s in rows]
    if birth and names and len(found) < budget:
        born, named = aliased(SubjectTerm), aliased(SubjectTerm)
        agree = func.count(named.term)
        rows = session.execute(
            select(named.notice_id, named.subject_no)
            .select_from(born)
            .join(named, and_(named.notice_id == born.notice_id, named.revision == born.revision,
                              named.subject_no == born.subject_no,
                              named.key_version == born.key_version))
            .join(Notice, and_(Notice.id == born.notice_id, Notice.current_revision == born.revision))
            .where(born.key_version == version, born.term.in_(sorted(birth)),
                   named.term.in_(sorted(names)), scope)
            .group_by(named.notice_id, named.subject_no)
            .order_by(agree.desc(), named.notice_id, named.subject_no).limit(budget))
        found += [NoticeCandidate(n, s) for n, s in rows]
    return list(dict.fromkeys(found))[:budget]


@dataclass(frozen=True)
class NoticeMatch:
    notice: Notice
    subject_no: int
    probe_no: int
    matched_on: list[str]


def confirm_notices(session: Session, runtime: Runtime, probes: Sequence[Probe],
                    candidates: Sequence[NoticeCandidate]) -> list[NoticeMatch]:
    """Open the candidate notices (always len(probes) * CANDIDATES_PER_SUBJECT decryptions, dummy
    ones included) and keep the subjects that strongly match a probe."""
    notice_ids = sorted({c.notice_id for c in candidates})
    documents: dict[str, tuple[Notice, dict[str, Any]]] = {}
    if notice_ids:
        rows = session.execute(
            select(Notice, NoticeRevision)
            .join(NoticeRevision, and_(NoticeRevision.notice_id == Notice.id,
                                       NoticeRevision.revision == Notice.current_revision))
            .where(Notice.id.in_(notice_ids))
            .options(lazyload(Notice.recipients), lazyload(Notice.paragraphs)))
        documents = {n.id: (n, open_content(runtime, n, r)) for n, r in rows}
    pad_decryptions(runtime.envelope, CANDIDATES_PER_SUBJECT * len(probes) - len(documents))
    matches = []
    for candidate in candidates:
        notice, document = documents.get(candidate.notice_id, (None, {}))
        subjects = document.get("subjects", [])
        if notice is None or candidate.subject_no >= len(subjects):
            continue
        for probe_no, probe in enumerate(probes):
            matched = strong_match(probe, subjects[candidate.subject_no])
            if matched:
                matches.append(NoticeMatch(notice, candidate.subject_no, probe_no, matched))
    return matches


def union_matched(values: Iterable[list[str]]) -> list[str]:
    order = ("identifier", "name", "birth_date")
    seen = {v for vs in values for v in vs}
    return [v for v in order if v in seen]


def term_filter(column_version: Any, column_term: Any,
                terms_by_version: dict[int, set[bytes]]) -> ColumnElement[bool]:
    """(key_version, term) in any of the given sets."""
    return or_(false(), *(and_(column_version == v, column_term.in_(sorted(t)))
                 for v, t in terms_by_version.items() if t))
