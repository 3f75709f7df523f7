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
from functools import cache, lru_cache
from hashlib import blake2b
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    and_,
    bindparam,
    func,
    literal,
    select,
    union_all,
)
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
from app.search.service import (
    ROW_BUDGET,
    _best,
    capped_counts,
    compare_names,
    first_rows,
    fitting,
)

# "Very similar name": the search engine's name score, capped by its weakest token (every token of
# the shorter name must have a close counterpart). On the labelled set of tests/support/search_variants.py,
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
    abjad = query.abjad or candidate.abjad
    weakest = min(_best(t, long_, abjad)[0] for t in short.tokens)
    # The search engine's forward and backward token agreement (without its full-name bonus, which
    # ranks but would make every name with a middle name missing fail here).
    agreement = compare_names(query, candidate)
    return min(0.7 * agreement.forward + 0.3 * agreement.backward, weakest) >= STRONG_NAME


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


def matching_keys(keyring: Keyring, subjects: Sequence[dict[str, Any]]) -> list[int]:
    """The term locks a write of these subjects takes before matching (app/db.py hold_matching_lock):
    32-bit keys of their identifier terms, and of their birth-date terms where a name goes with the
    date, under every usable index version. A strong match needs an identifier or a birth date in
    common, and each side's candidates are read through exactly these terms, so two writes that could
    match share a key (and two writes on two index versions mid-rotation share the older one's). Keys
    of blind-index terms, never of plaintext: pg_locks shows them to whoever can read it."""
    keys = set()
    for version in keyring.usable_versions("index"):
        for subject in subjects:
            ids = {k for _, v in identifiers_of(subject) if len(k := identifier_key(v)) >= 4}
            terms = purpose_terms(keyring, version, Purpose.IDENTIFIER, ids)
            born = subject.get("birth_date")
            if born is not None and (subject.get("name") or subject.get("aliases")):
                terms |= purpose_terms(keyring, version, Purpose.BIRTH_DATE, {born})
            keys |= {int.from_bytes(blake2b(t, digest_size=4).digest(), "big", signed=True)
                     for t in terms}
    return sorted(keys)


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


Terms = tuple[set[bytes], set[bytes], set[bytes]]


def collect_terms(keyring: Keyring, version: int, probes: Sequence[Probe]) -> Terms:
    """(identifier, birth-date, name) terms of every probe, under one index version."""
    ids: set[bytes] = set()
    birth: set[bytes] = set()
    names: set[bytes] = set()
    for probe in probes:
        i, b, n = probe.terms(keyring, version)
        ids, birth, names = ids | i, birth | b, names | n
    return ids, birth, names


def notice_candidates(session: Session, version: int, terms: Terms, budget: int,
                      scope: ColumnElement[bool]) -> list[NoticeCandidate]:
    """Subjects of current revisions within scope that may strongly match (at most budget):
    identifier agreements first, then birth date plus most name terms. Indexed queries, run on the
    connection (no ORM entities are loaded), each reading at most about ROW_BUDGET index rows per
    term it starts from, however many subjects share an identifier, a birth date or a name."""
    id_terms, birth, names = terms
    connection = session.connection()
    found: list[NoticeCandidate] = []
    # One count for both ways in, each stopping one past the budget: an identifier or a birth date
    # shared by many subjects (a placeholder such as 1 January, common in sanctions data) would
    # otherwise make every post read all of them. (A birth date leads only beside name terms.)
    dates = birth if names else set()
    counts = capped_counts(session, version, id_terms | dates, scope, ROW_BUDGET)
    # A birth date shared by at most ROW_BUDGET subjects is a way in beside the identifiers (each
    # subject born then is checked for name terms), both in one round trip. Past that, the rarest name
    # terms lead, and the date is checked on the subjects they reach.
    rare = sorted(t for t in dates if counts[t] <= ROW_BUDGET)
    common = sorted(t for t in dates if counts[t] > ROW_BUDGET)
    if id_terms or rare:
        rows = connection.execute(_identified_or_named_and_born(scope, budget), {
            "version": version, "terms": fitting({t: counts[t] for t in id_terms}, ROW_BUDGET),
            "named": sorted(names), "born": rare})
        found += [NoticeCandidate(n, s) for n, s in _by_way(rows)]
    if common and len(found) < budget:
        leading = fitting(capped_counts(session, version, names, scope, ROW_BUDGET), ROW_BUDGET)
        rows = connection.execute(_born_among_named(scope, budget),
                                  {"version": version, "terms": leading, "born": common})
        found += [NoticeCandidate(n, s) for n, s in rows]
    return list(dict.fromkeys(found))[:budget]


_born, _named = aliased(SubjectTerm), aliased(SubjectTerm)
_SAME_SUBJECT = and_(_named.notice_id == _born.notice_id, _named.revision == _born.revision,
                     _named.subject_no == _born.subject_no, _named.key_version == _born.key_version)


# Matching's statements are built once per scope (policy gives one filter object per party; the caches
# hold it, so its identity is never reused) and budget: building and keying them on every post cost
# more than running them. Terms, dates and the index version are bound at execution.
@lru_cache(maxsize=1024)
def _identified_or_named_and_born(scope: ColumnElement[bool], budget: int) -> CompoundSelect:
    """(way, name terms agreeing, notice id, subject number), at most budget rows each way:
    0, subjects indexed under the identifier terms bound as `terms`, the first by (notice, subject);
    1, subjects indexed under one of the birth-date terms bound as `born` and some of the name terms
    bound as `named`, most name terms first. An empty list of terms leaves its way empty."""
    first = first_rows(scope, budget)
    identified = select(literal(0).label("way"), literal(0).label("agreeing"), first.c.notice_id,
                        first.c.subject_no)
    named_and_born = (
        select(literal(1), func.count(_named.term), _named.notice_id, _named.subject_no)
        .select_from(_born)
        .join(_named, _SAME_SUBJECT)
        .join(Notice, and_(Notice.id == _born.notice_id, Notice.current_revision == _born.revision))
        .where(_born.key_version == bindparam("version"),
               _born.term.in_(bindparam("born", expanding=True)),
               # Not an index condition (coalesce): the name rows are reached through each born subject
               # (ix_subject_term_subject), never by scanning a common name token's rows.
               func.coalesce(_named.term, _named.term).in_(bindparam("named", expanding=True)), scope)
        .group_by(_named.notice_id, _named.subject_no)
        .order_by(func.count(_named.term).desc(), _named.notice_id, _named.subject_no)
        .limit(budget))
    # SQLite allows no LIMIT in a compound's member: that way is read as a derived table.
    return union_all(identified, select(named_and_born.subquery()))


@lru_cache(maxsize=1024)
def _born_among_named(scope: ColumnElement[bool], budget: int) -> Select[Any]:
    """Subjects reached through the leading (rarest) name terms bound as `terms`, at most 2 x ROW_BUDGET
    of their rows chosen by (notice, subject) as search chooses them, that are also indexed under one
    of the birth-date terms bound as `born`; those with most name terms first (at most budget)."""
    reached = first_rows(scope, 2 * ROW_BUDGET)
    dated = (select(literal(1)).select_from(_born)
             .where(_born.notice_id == reached.c.notice_id, _born.revision == reached.c.revision,
                    _born.subject_no == reached.c.subject_no, _born.key_version == bindparam("version"),
                    func.coalesce(_born.term, _born.term).in_(bindparam("born", expanding=True))))
    return (select(reached.c.notice_id, reached.c.subject_no)
            .where(dated.exists())
            .group_by(reached.c.notice_id, reached.c.subject_no)
            .order_by(func.count().desc(), reached.c.notice_id, reached.c.subject_no)
            .limit(budget))


@cache
def _enquiry_statement() -> CompoundSelect:
    """Built once (constructing it costs more than running it): notice_candidates' two ways in, on
    the terms of open enquiries, in one round trip."""
    from app.enquiries.models import Enquiry, EnquiryTerm

    standing = and_(Enquiry.open_until > bindparam("now"), Enquiry.party_code != bindparam("party"))
    by_id = (select(literal(0).label("way"), literal(0).label("agreeing"), EnquiryTerm.enquiry_id,
                    EnquiryTerm.subject_no)
             .join(Enquiry, Enquiry.id == EnquiryTerm.enquiry_id)
             .where(EnquiryTerm.key_version == bindparam("version"),
                    EnquiryTerm.term.in_(bindparam("ids", expanding=True)), standing)
             .order_by(EnquiryTerm.enquiry_id, EnquiryTerm.subject_no).limit(bindparam("budget")))
    born, named = aliased(EnquiryTerm), aliased(EnquiryTerm)
    by_name = (select(literal(1), func.count(named.term), named.enquiry_id, named.subject_no)
               .select_from(born)
               .join(named, and_(named.enquiry_id == born.enquiry_id,
                                 named.subject_no == born.subject_no,
                                 named.key_version == born.key_version))
               .join(Enquiry, Enquiry.id == born.enquiry_id)
               .where(born.key_version == bindparam("version"),
                      born.term.in_(bindparam("born", expanding=True)),
                      func.coalesce(named.term, named.term).in_(bindparam("named", expanding=True)),
                      standing)
               .group_by(named.enquiry_id, named.subject_no)
               .order_by(func.count(named.term).desc(), named.enquiry_id, named.subject_no)
               .limit(bindparam("budget")))
    return union_all(select(by_id.subquery()), select(by_name.subquery()))


def enquiry_candidates(session: Session, version: int, terms: Terms, budget: int, *,
                       not_party: str, now: Any) -> list[tuple[str, int]]:
    """(enquiry id, subject number) of open enquiries of other parties than not_party whose
    subjects may strongly match (the same two ways in as notice_candidates, on enquiry terms)."""
    ids, birth, names = terms
    if not ids and not (birth and names):
        return []
    rows = session.connection().execute(_enquiry_statement(), {
        "version": version, "now": now, "party": not_party, "budget": budget, "ids": sorted(ids),
        "born": sorted(birth) if names else [], "named": sorted(names)})
    return list(dict.fromkeys(_by_way(rows)))[:budget]


def _by_way(rows: Iterable[Any]) -> list[tuple[str, int]]:
    """(id, subject number) of a two-way read's (way, name terms agreeing, id, subject number) rows in
    each way's own order: identifier agreements first, by id and subject, then most name terms first."""
    return [(i, n) for _, _, i, n in sorted(rows, key=lambda r: (r[0], -r[1], r[2], r[3]))]


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


