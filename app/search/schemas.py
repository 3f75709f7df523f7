"""Suspect search request and answer (docs/http-contract.md)."""

from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field

from app.notices.schemas import Country, Strict, Subject, Text

MAX_LIMIT = 100
DEFAULT_LIMIT = 10


class SubjectQuery(Strict):
    name: Annotated[Text, Field(max_length=300)]
    birth_date: date | None = None
    nationality: Country | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT


class Feature(BaseModel):
    """One feature of a score: its agreement (value), its share of the score (weight) and what it
    added (contribution = value x weight; a match's contributions sum to its score)."""

    feature: str  # name, identifier, birth_date, nationality
    value: Annotated[float, Field(ge=0, le=1)]
    weight: Annotated[float, Field(ge=0, le=1)]
    contribution: Annotated[float, Field(ge=0, le=1)]
    detail: str | None = None


class Explanation(BaseModel):
    """Why a subject matched: the stored name compared, how its tokens agreed, and the features."""

    compared_name: str  # the subject's name or the alias that agreed best
    name_similarity: Annotated[float, Field(ge=0, le=1)]
    tokens_matched: list[str]  # normalised query tokens with a counterpart in the compared name
    tokens_unmatched: list[str]  # normalised query tokens without one
    candidate_tokens_unmatched: list[str]  # the compared name's tokens without one in the query
    whole_name: Annotated[float, Field(ge=0, le=1)]  # token-sorted closeness (breaks ties)
    features: list[Feature]


class SubjectMatch(BaseModel):
    notice_id: str
    subject: Subject
    score: Annotated[float, Field(ge=0, le=1)]
    matched_on: list[str]
    explanation: Explanation
    subject_no: int = 0  # the subject's position in the notice (identifies it with notice_id)


class RequestSubjectMatch(BaseModel):
    """A subject of a request for cooperation the caller's party sent or received."""

    request_id: str
    subject: Subject
    score: Annotated[float, Field(ge=0, le=1)]
    matched_on: list[str]
    explanation: Explanation


class SubjectMatches(BaseModel):
    matches: list[SubjectMatch]
    # Added to the contract: subjects of the caller's requests, ranked the same way (best first).
    request_matches: list[RequestSubjectMatch] = Field(default_factory=list)
