"""Legislation use cases: read, search, revise, compare, freshness, import and export. Sessions flush only."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from app import policy
from app.audit.record import Action, denied, record
from app.auth.principal import Principal
from app.db import advisory_lock
from app.errors import Forbidden, InvalidInput, NotFound
from app.legislation import stemming
from app.legislation.models import (
    FTS_TABLE,
    LegislationLanguage,
    LegislationMeasure,
    LegislationProfile,
    LegislationRevision,
)
from app.legislation.schemas import (
    MEASURES,
    Comparison,
    FreshnessItem,
    MeasureRow,
    Profile,
    ProfileDocument,
    ProfileImport,
    ProfileSummary,
    RevisionRead,
)
from app.parties.models import Party
from app.runtime import Runtime

MAX_COMPARE = 5
MIN_COMPARE = 2
DEFAULT_PAGE = 50
MAX_PAGE = 250


def _outdated_before(runtime: Runtime) -> datetime:
    return runtime.clock() - timedelta(days=runtime.settings.legislation_outdated_days)


def search_text(doc: dict[str, Any]) -> str:
    """Titles, summary and notes (and legal bases) of a document, as index tokens."""
    texts: list[str | None] = [doc.get("summary"), doc.get("time_limits")]
    texts += [i.get("title") for i in doc.get("implementing_legislation", [])]
    for entry in doc.get("measures", {}).values():
        texts += [entry.get("legal_basis"), entry.get("notes")]
    texts.append(doc.get("request_requirements", {}).get("notes"))
    return stemming.analyse(*texts)


def _changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """Which fields a revision changed (measures one by one)."""
    if old is None:
        return sorted(new)
    changed = []
    for key in sorted(set(old) | set(new)):
        if key == "measures":
            for m in MEASURES:
                if old.get(key, {}).get(m) != new.get(key, {}).get(m):
                    changed.append(f"measures.{m}")
        elif old.get(key) != new.get(key):
            changed.append(key)
    return changed


def _as_profile(row: LegislationProfile, document: str, revision: int, updated_at: datetime,
                outdated_before: datetime) -> dict[str, Any]:
    doc = json.loads(document)
    return {**doc, "party": row.party, "revision": revision, "updated_at": updated_at,
            "out_of_date": row.updated_at < outdated_before}


def _state(session: Session, party: str) -> Party | None:
    return session.scalar(select(Party).where(Party.code == party, Party.kind == "state", Party.active))


def _profile_row(session: Session, principal: Principal, party: str, action: Action,
                 *, for_update: bool = False) -> LegislationProfile:
    query = select(LegislationProfile).where(LegislationProfile.party == party)
    if for_update:
        query = query.with_for_update()
    row = session.scalar(query) if party.isalnum() and len(party) <= 8 else None
    if row is None:
        raise NotFound(on_rollback=denied(principal, action, party[:8] if party.isalnum() else None))
    return row


def _require_reader(principal: Principal) -> None:
    policy.require(policy.can_read_reference(principal), principal, Action.LEGISLATION_READ,
                   detail="this role may not read legal profiles")


def get_profile(session: Session, runtime: Runtime, principal: Principal, party: str) -> Profile:
    _require_reader(principal)
    row = _profile_row(session, principal, party, Action.LEGISLATION_READ)
    record(session, principal, Action.LEGISLATION_READ, object_id=row.party)
    return Profile(**_as_profile(row, row.document, row.revision, row.updated_at,
                                 _outdated_before(runtime)))


def _writer_key(party: str) -> int:
    """One advisory lock per State's profile: "ARXL" and the party code (three letters)."""
    return int.from_bytes(f"ARXL{party}".encode()[:8].ljust(8, b"_"), "big")


def write_profile(session: Session, runtime: Runtime, principal: Principal, party: str,
                  doc: ProfileDocument, *, action: Action = Action.LEGISLATION_REVISE) -> bool:
    """Append a revision of party's profile when doc differs from the current one; True if it did.

    Focal points of party write through the API; operators bulk-load through import."""
    if not (policy.can_write_for_party(principal, party) or policy.can_import_legislation(principal)):
        raise Forbidden("only the focal points of this State may revise its profile",
                        on_rollback=denied(principal, action, party))
    if _state(session, party) is None:
        raise InvalidInput("party: not a registered State", errors=[{"field": "party",
                                                                     "message": "not a State"}])
    new = doc.stored()
    # The row lock alone would not serialise a State's first two writes (no row yet: both would insert
    # revision 1, and the second fail on the primary key); this lock does, and comes first.
    advisory_lock(session, _writer_key(party))
    row = session.scalar(select(LegislationProfile).where(LegislationProfile.party == party)
                         .with_for_update())
    old = json.loads(row.document) if row is not None else None
    if old == new:
        return False
    now = runtime.clock()
    number = row.revision + 1 if row is not None else 1
    document = json.dumps(new, sort_keys=True, ensure_ascii=False)
    session.add(LegislationRevision(party=party, revision=number, author=principal.username,
                                    author_party=principal.party,
                                    changes=json.dumps(_changes(old, new)), document=document,
                                    created_at=now))
    if row is None:
        row = LegislationProfile(party=party)
        session.add(row)
    row.revision, row.language, row.document, row.updated_at = number, doc.language, document, now
    row.summary = doc.summary
    row.search_tokens = search_text(new)
    session.flush()
    session.execute(delete(LegislationMeasure).where(LegislationMeasure.party == party))
    session.execute(delete(LegislationLanguage).where(LegislationLanguage.party == party))
    session.add_all([LegislationMeasure(party=party, measure=m, available=e["available"])
                     for m, e in new["measures"].items()])
    session.add_all([LegislationLanguage(party=party, language=lang)
                     for lang in sorted(set(doc.request_requirements.languages))])
    session.flush()
    record(session, principal, action, object_id=party)
    return True


def revise_profile(session: Session, runtime: Runtime, principal: Principal, party: str,
                   doc: ProfileDocument) -> Profile:
    """PUT: append a revision (no revision when nothing changed) and answer the current profile."""
    if not policy.can_write_for_party(principal, party):
        raise Forbidden("only the focal points of this State may revise its profile",
                        on_rollback=denied(principal, Action.LEGISLATION_REVISE, party[:8]))
    if not write_profile(session, runtime, principal, party, doc):
        record(session, principal, Action.LEGISLATION_REVISE, object_id=party)
    row = _profile_row(session, principal, party, Action.LEGISLATION_REVISE)
    return Profile(**_as_profile(row, row.document, row.revision, row.updated_at,
                                 _outdated_before(runtime)))


def list_revisions(session: Session, runtime: Runtime, principal: Principal,
                   party: str) -> list[RevisionRead]:
    """Every revision, oldest first: who, when, what changed, and the whole profile as it stood."""
    _require_reader(principal)
    row = _profile_row(session, principal, party, Action.LEGISLATION_REVISIONS)
    revisions = session.scalars(select(LegislationRevision).where(LegislationRevision.party == party)
                                .order_by(LegislationRevision.revision))
    record(session, principal, Action.LEGISLATION_REVISIONS, object_id=party)
    before = _outdated_before(runtime)
    return [RevisionRead(**_as_profile(row, r.document, r.revision, r.created_at, before),
                         author=r.author, author_party=r.author_party, changes=json.loads(r.changes))
            for r in revisions]


def _matching_parties(session: Session, q: str) -> dict[str, int] | None:
    """Parties whose profile matches every word of q, with their score; None when q has no words."""
    terms = stemming.query_terms(q)
    if not terms:
        return None
    if session.get_bind().dialect.name == "sqlite":
        rows = session.execute(text(
            f"SELECT p.party, p.search_tokens FROM {FTS_TABLE} f JOIN legislation_profile p "
            f"ON p.party = f.party WHERE {FTS_TABLE} MATCH :q"), {"q": stemming.fts5_query(terms)})
    else:
        rows = session.execute(text(
            "SELECT party, search_tokens FROM legislation_profile "
            "WHERE to_tsvector('simple', search_tokens) @@ to_tsquery('simple', :q)"),
            {"q": stemming.tsquery(terms)})
    return {party: stemming.score(tokens, terms) for party, tokens in rows}


def search_profiles(session: Session, runtime: Runtime, principal: Principal, *,
                    party: str | None = None, measure: str | None = None,
                    language: str | None = None, q: str | None = None,
                    limit: int = DEFAULT_PAGE) -> list[ProfileSummary]:
    """Profiles matching every filter: best full-text score first, then by party code."""
    _require_reader(principal)
    P = LegislationProfile
    query = (select(P.party, Party.name, P.revision, P.updated_at, P.language, P.summary)
             .join(Party, Party.code == P.party))
    if party:
        query = query.where(P.party == party)
    if measure:
        query = query.where(select(LegislationMeasure.party).where(
            LegislationMeasure.party == P.party, LegislationMeasure.measure == measure,
            LegislationMeasure.available).exists())
    if language:
        query = query.where(select(LegislationLanguage.party).where(
            LegislationLanguage.party == P.party, LegislationLanguage.language == language).exists())
    scores = _matching_parties(session, q) if q else None
    if scores is not None:
        query = query.where(P.party.in_(list(scores)))
    rows = list(session.execute(query.order_by(P.party)).all())
    if scores is not None:
        rows.sort(key=lambda r: (-scores[r.party], r.party))
    rows = rows[:max(1, min(limit, MAX_PAGE))]
    shown = [r.party for r in rows]
    measures: dict[str, list[str]] = {p: [] for p in shown}
    languages: dict[str, list[str]] = {p: [] for p in shown}
    if shown:
        for p, m in session.execute(select(LegislationMeasure.party, LegislationMeasure.measure).where(
                LegislationMeasure.party.in_(shown), LegislationMeasure.available)):
            measures[p].append(m)
        for p, lang in session.execute(select(LegislationLanguage.party, LegislationLanguage.language)
                                       .where(LegislationLanguage.party.in_(shown))
                                       .order_by(LegislationLanguage.language)):
            languages[p].append(lang)
    before = _outdated_before(runtime)
    items = [ProfileSummary(
        party=r.party, party_name=r.name, revision=r.revision, updated_at=r.updated_at,
        out_of_date=r.updated_at < before, language=r.language, summary=r.summary,
        available_measures=[m for m in MEASURES if m in measures[r.party]],
        request_languages=languages[r.party],
        score=scores[r.party] if scores is not None else None) for r in rows]
    # The query may name people or cases: it is kept encrypted in the entry, never in clear.
    record(session, principal, Action.LEGISLATION_SEARCH, envelope=runtime.envelope,
           detail={"party": party, "measure": measure, "language": language, "q": q,
                   "results": len(items)})
    return items


def compare_profiles(session: Session, runtime: Runtime, principal: Principal,
                     parties: list[str]) -> Comparison:
    """Two to five States side by side, measure by measure (a State without a profile is a 404)."""
    _require_reader(principal)
    wanted = list(dict.fromkeys(parties))
    if not MIN_COMPARE <= len(wanted) <= MAX_COMPARE:
        raise InvalidInput(f"party: give {MIN_COMPARE} to {MAX_COMPARE} different States",
                           errors=[{"field": "party", "message": "2 to 5 parties"}])
    rows = {r.party: r for r in session.scalars(
        select(LegislationProfile).where(LegislationProfile.party.in_(wanted)))}
    missing = [p for p in wanted if p not in rows]
    if missing:
        raise NotFound(f"no profile for: {', '.join(m[:8] for m in missing if m.isalnum())}",
                       on_rollback=denied(principal, Action.LEGISLATION_COMPARE, None))
    before = _outdated_before(runtime)
    profiles = [Profile(**_as_profile(rows[p], rows[p].document, rows[p].revision, rows[p].updated_at,
                                      before)) for p in wanted]
    measures = [MeasureRow(measure=m, by_party={p.party: p.measures.get(m) for p in profiles})
                for m in MEASURES]
    for p in wanted:
        record(session, principal, Action.LEGISLATION_COMPARE, object_id=p)
    return Comparison(parties=wanted, profiles=profiles, measures=measures)


def freshness(session: Session, runtime: Runtime, principal: Principal) -> list[FreshnessItem]:
    """Registered States with no profile, or one not revised within the freshness period."""
    _require_reader(principal)
    before = _outdated_before(runtime)
    rows = session.execute(
        select(Party.code, Party.name, LegislationProfile.updated_at)
        .outerjoin(LegislationProfile, LegislationProfile.party == Party.code)
        .where(Party.kind == "state", Party.active)
        .where((LegislationProfile.party.is_(None)) | (LegislationProfile.updated_at < before))
        .order_by(Party.code)).all()
    record(session, principal, Action.LEGISLATION_FRESHNESS)
    return [FreshnessItem(party=code, party_name=name, updated_at=updated,
                          status="missing" if updated is None else "out_of_date")
            for code, name, updated in rows]


# -- bulk import / export (operators, CLI) ------------------------------------------------------------
def parse_import(raw: Any) -> list[ProfileImport]:
    """An import file: {"items": [profile, ...]} (what export writes) or a bare list of profiles."""
    items = raw.get("items") if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise InvalidInput("items: expected a list of profiles", errors=[{"field": "items",
                                                                          "message": "not a list"}])
    from pydantic import ValidationError

    profiles = []
    for n, item in enumerate(items):
        try:
            profiles.append(ProfileImport.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise InvalidInput(f"items[{n}].{field}: {first['msg']}",
                               errors=[{"field": f"items[{n}].{field}", "message": first["msg"]}]
                               ) from None
    seen = [p.party for p in profiles]
    if len(set(seen)) != len(seen):
        raise InvalidInput("items: a State appears twice", errors=[{"field": "items",
                                                                    "message": "duplicate party"}])
    return profiles


def import_profiles(session: Session, runtime: Runtime, principal: Principal,
                    profiles: list[ProfileImport]) -> tuple[list[str], list[str]]:
    """Write every profile (one revision each where it changed), all or nothing."""
    policy.require(policy.can_import_legislation(principal), principal, Action.LEGISLATION_IMPORT,
                   detail="only operators bulk-load profiles")
    revised: list[str] = []
    unchanged: list[str] = []
    fields = set(ProfileDocument.model_fields)
    for p in sorted(profiles, key=lambda p: p.party):  # States' locks in one order: no deadlock
        doc = ProfileDocument.model_validate(p.model_dump(include=fields, exclude_none=True))
        changed = write_profile(session, runtime, principal, p.party, doc,
                                action=Action.LEGISLATION_IMPORT)
        (revised if changed else unchanged).append(p.party)
    return revised, unchanged


def export_profiles(session: Session, runtime: Runtime, principal: Principal,
                    party: str | None = None) -> list[dict[str, Any]]:
    """Current profiles in the contract's shape (the import format), by party code."""
    policy.require(policy.can_import_legislation(principal), principal, Action.LEGISLATION_EXPORT,
                   detail="only operators export profiles")
    query = select(LegislationProfile).order_by(LegislationProfile.party)
    if party:
        query = query.where(LegislationProfile.party == party)
    rows = list(session.scalars(query))
    if party and not rows:
        raise NotFound(f"no profile for {party[:8]}")
    record(session, principal, Action.LEGISLATION_EXPORT, object_id=party)
    before = _outdated_before(runtime)
    return [Profile(**_as_profile(r, r.document, r.revision, r.updated_at, before))
            .model_dump(mode="json", exclude_none=True) for r in rows]
