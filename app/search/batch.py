"""Batch matching: many subject queries in one request, in the shape of OpenSanctions yente's
POST /match (queries keyed by the caller's ids, FollowTheMoney Person properties), so screening tools
written for yente can query ARX. Each query is answered, rate-limited and audited like one
POST /api/v1/search/subjects."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

import pycountry
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app import policy
from app.audit.record import Action
from app.auth.principal import Principal
from app.errors import InvalidInput, TooManyRequests
from app.notices.schemas import canonical_code
from app.runtime import Runtime
from app.search.normalise import identifier_key, name_form
from app.search.schemas import (
    MATCH_PROPERTIES,
    MATCH_SCHEMAS,
    EntityMatches,
    EntityMatchQuery,
    EntityMatchResponse,
    FeatureScore,
    ScoredEntity,
    SubjectMatch,
    SubjectQuery,
    TotalSpec,
)
from app.search.service import search_subjects

DEFAULT_THRESHOLD = 0.7  # yente's default score threshold for "match": true
_YEAR_OR_MONTH = re.compile(r"^\d{4}(-\d{2})?$")


def _values(properties: dict[str, list[str] | str], name: str) -> list[str]:
    value = properties.get(name, [])
    return [value] if isinstance(value, str) else list(value)


def _country(code: str) -> str | None:
    """The alpha-3 code of an ISO 3166-1 alpha-2 or alpha-3 code, folded like every ISO code in ARX
    (canonical_code: ASCII only, so a look-alike such as a dotless "ı" is refused, never guessed at)."""
    folded = canonical_code(code)
    if not isinstance(folded, str) or not folded.isascii():
        return None
    found = (pycountry.countries.get(alpha_2=folded) if len(folded) == 2
             else pycountry.countries.get(alpha_3=folded) if len(folded) == 3 else None)
    return found.alpha_3 if found is not None else None


def _query(key: str, example: Any, limit: int) -> tuple[SubjectQuery | None, list[dict[str, str]]]:
    """The single-search query for one example, or the errors that make it unusable."""
    where = f"queries.{key}"
    errors: list[dict[str, str]] = []
    if example.schema_ not in MATCH_SCHEMAS:
        errors.append({"field": f"{where}.schema",
                       "message": f"must be one of {', '.join(MATCH_SCHEMAS)}"})
    unknown = sorted(set(example.properties) - MATCH_PROPERTIES)
    if unknown:
        errors.append({"field": f"{where}.properties",
                       "message": f"unknown properties: {', '.join(unknown)}"})
    props = example.properties
    parts = [*_values(props, "firstName"), *_values(props, "middleName"),
             *_values(props, "fatherName"), *_values(props, "lastName")]
    names = _values(props, "name") or ([" ".join(parts)] if parts else [])
    names += _values(props, "idNumber") + _values(props, "passportNumber")
    name = next((n for n in names if name_form(n).tokens or len(identifier_key(n)) >= 4), None)
    if name is None:
        errors.append({"field": f"{where}.properties.name",
                       "message": "a searchable name (or an identifier) is required"})
    birth: date | None = None
    for value in _values(props, "birthDate"):
        if _YEAR_OR_MONTH.match(value):
            continue  # a partial date narrows nothing the full-date comparison could use
        try:
            birth = date.fromisoformat(value)
            break
        except ValueError:
            errors.append({"field": f"{where}.properties.birthDate",
                           "message": "dates are ISO 8601 (YYYY-MM-DD, YYYY-MM or YYYY)"})
    nationality = None
    for value in _values(props, "nationality") + _values(props, "country"):
        nationality = _country(value)
        if nationality is None:
            errors.append({"field": f"{where}.properties.nationality",
                           "message": "not an ISO 3166-1 country code"})
        break
    if errors or name is None:
        return None, errors
    try:
        return SubjectQuery(name=name, birth_date=birth, nationality=nationality, limit=limit), []
    except ValidationError as exc:
        return None, [{"field": f"{where}.properties", "message": e["msg"]} for e in exc.errors()]


def _entity(match: SubjectMatch, threshold: float) -> ScoredEntity:
    subject = match.subject
    properties: dict[str, list[str]] = {"name": [subject.name]}
    if subject.aliases:
        properties["alias"] = list(subject.aliases)
    if subject.birth_date is not None:
        properties["birthDate"] = [subject.birth_date.isoformat()]
    if subject.nationality:
        properties["nationality"] = [subject.nationality]
    return ScoredEntity(
        id=f"{match.notice_id}/{match.subject_no}", caption=subject.name, properties=properties,
        score=match.score, match=match.score >= threshold,
        explanations={f.feature: FeatureScore(score=f.value, weight=f.weight)
                      for f in match.explanation.features},
        notice_id=match.notice_id, matched_on=match.matched_on, explanation=match.explanation)


def match_batch(session: Session, runtime: Runtime, principal: Principal, body: EntityMatchQuery,
                *, limit: int, threshold: float = DEFAULT_THRESHOLD,
                spend: Callable[[], None] = lambda: None) -> EntityMatchResponse:
    """Answer every query like a single search, in order. All queries are checked before any runs
    (one bad query refuses the request, nothing half-done); spend() is called once per query before
    it runs (the caller's search rate limit), and a query it refuses is answered with status 429
    and not run, while the queries before it keep their answers."""
    policy.require(policy.can_search_subjects(principal), principal, Action.SEARCH,
                   detail="this role may not search subjects")
    queries: dict[str, SubjectQuery] = {}
    errors: list[dict[str, str]] = []
    for key, example in body.queries.items():
        query, problems = _query(key, example, limit)
        errors += problems
        if query is not None:
            queries[key] = query
    if errors:
        raise InvalidInput("queries: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors),
                           errors=errors)
    responses: dict[str, EntityMatches] = {}
    for key, query in queries.items():
        echo = body.queries[key].model_dump(by_alias=True, exclude_none=True)
        try:
            spend()
        except TooManyRequests as exc:
            responses[key] = EntityMatches(status=429, results=[], total=TotalSpec(value=0),
                                           query=echo, detail=exc.detail)
            continue
        matches = search_subjects(session, runtime, principal, query)
        responses[key] = EntityMatches(results=[_entity(m, threshold) for m in matches],
                                       total=TotalSpec(value=len(matches)), query=echo)
    return EntityMatchResponse(responses=responses, limit=limit)
