"""Suspect search request and answer (docs/http-contract.md)."""

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

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


# -- batch matching in the shape of OpenSanctions yente's POST /match (yente/data/common.py) ---------
MAX_BATCH = 100
MATCH_SCHEMAS = ("Person",)  # ARX subjects are people
# FollowTheMoney Person properties a query may carry (others are refused, not silently ignored).
MATCH_PROPERTIES = frozenset(["name", "alias", "birthDate", "nationality", "country", "idNumber",
                              "passportNumber", "firstName", "lastName", "middleName", "fatherName"])


class EntityExample(Strict):
    """One query: an example entity, as yente's EntityExample."""

    id: Annotated[str, Field(max_length=200)] | None = None
    schema_: Annotated[str, Field(alias="schema", max_length=50)]
    properties: dict[Annotated[str, Field(max_length=50)],
                     Annotated[list[Annotated[Text, Field(max_length=300)]], Field(max_length=20)]
                     | Annotated[Text, Field(max_length=300)]]


class EntityMatchQuery(Strict):
    """POST /api/v1/search/batch: up to MAX_BATCH queries keyed by the caller's ids. yente's
    algorithm tuning (weights, config) is accepted for compatibility and not used."""

    queries: Annotated[dict[Annotated[str, Field(min_length=1, max_length=100)], EntityExample],
                       Field(min_length=1, max_length=MAX_BATCH)]
    weights: dict[str, float] = Field(default_factory=dict)
    config: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


class TotalSpec(BaseModel):
    value: int
    relation: str = "eq"


class FeatureScore(BaseModel):
    """yente's FeatureResult: a feature's agreement and its weight in the score."""

    score: float
    weight: float


class ScoredEntity(BaseModel):
    """A matching subject as yente's ScoredEntityResponse, with ARX's own fields beside."""

    model_config = ConfigDict(populate_by_name=True)

    id: str  # "<notice id>/<subject number>"
    caption: str
    schema_: str = Field("Person", serialization_alias="schema")
    properties: dict[str, list[str]]
    datasets: list[str] = Field(default_factory=lambda: ["arx-notices"])
    referents: list[str] = Field(default_factory=list)
    target: bool = True
    score: float
    match: bool
    explanations: dict[str, FeatureScore]
    notice_id: str
    matched_on: list[str]
    explanation: Explanation


class EntityMatches(BaseModel):
    status: int = 200
    results: list[ScoredEntity]
    total: TotalSpec
    query: dict[str, object]
    detail: str | None = None  # why status is not 200 (e.g. the caller's search budget is spent)


class EntityMatchResponse(BaseModel):
    responses: dict[str, EntityMatches]
    limit: int
