"""Suspect search request and answer (CONTRACT.md, "Search")."""

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


class SubjectMatch(BaseModel):
    notice_id: str
    subject: Subject
    score: Annotated[float, Field(ge=0, le=1)]
    matched_on: list[str]


class RequestSubjectMatch(BaseModel):
    """A subject of a request for cooperation the caller's party sent or received."""

    request_id: str
    subject: Subject
    score: Annotated[float, Field(ge=0, le=1)]
    matched_on: list[str]


class SubjectMatches(BaseModel):
    matches: list[SubjectMatch]
    # Added to the contract: subjects of the caller's requests, ranked the same way (best first).
    request_matches: list[RequestSubjectMatch] = Field(default_factory=list)
