"""Request documents (CONTRACT.md, "Requests for cooperation")."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.notices.schemas import Asset, Strict, Subject, Text, Tlp


class Measure(StrEnum):
    IDENTIFICATION = "identification"
    TRACING = "tracing"
    FREEZING = "freezing"
    SEIZURE = "seizure"
    CONFISCATION = "confiscation"
    INFORMATION = "information"
    CONSULTATION = "consultation"


class Status(StrEnum):
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    EXECUTED = "executed"
    PARTIALLY_EXECUTED = "partially_executed"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


RequestType = Literal["formal", "consultation"]
Priority = Literal["urgent", "standard"]
Code = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]{1,7}$")]
NoticeId = Annotated[str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
Paragraph = Annotated[str, Field(pattern=r"^[0-9]{1,3}(\([a-z]\))?$")]
ObstacleCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,47}$")]


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("duplicates")
    return values


class RequestCreate(Strict):
    """What the requester writes; routing in clear, everything else sealed at rest."""

    addressee: Code
    type: RequestType
    measures: Annotated[list[Measure], Field(min_length=1, max_length=7)]
    legal_basis: Annotated[list[Annotated[Text, Field(max_length=500)]], Field(min_length=1,
                                                                                max_length=20)]
    priority: Priority
    due_date: date | None = None
    title: Annotated[Text, Field(max_length=300)]
    body: Annotated[Text, Field(max_length=50_000)]
    subjects: Annotated[list[Subject], Field(max_length=200)] = Field(default_factory=list)
    assets: Annotated[list[Asset], Field(max_length=500)] = Field(default_factory=list)
    related_notices: Annotated[list[NoticeId], Field(max_length=100)] = Field(default_factory=list)
    tlp: Tlp
    paris_paragraphs: Annotated[list[Paragraph], Field(min_length=1, max_length=50)]

    _measures_unique = field_validator("measures", "related_notices", "paris_paragraphs")(
        classmethod(lambda cls, v: _unique(v)))


class RequestContent(Strict):
    """The sealed part of a request."""

    title: str
    body: str
    legal_basis: list[str]
    subjects: list[Subject] = Field(default_factory=list)
    assets: list[Asset] = Field(default_factory=list)


class RequestRead(BaseModel):
    id: str
    requester: str
    addressee: str
    type: RequestType
    measures: list[str]
    legal_basis: list[str]
    priority: Priority
    due_at: datetime
    title: str
    body: str
    subjects: list[Subject]
    assets: list[Asset]
    related_notices: list[str]
    tlp: str
    paris_paragraphs: list[str]
    status: Status
    obstacles: list[str]
    created_at: datetime
    updated_at: datetime
    converted_at: datetime | None
    overdue: bool
    # The statuses the caller's side may move this request to now (what the portal offers).
    allowed_transitions: list[Status]


class RequestList(BaseModel):
    items: list[RequestRead]
    next_cursor: str | None


class MessageCreate(Strict):
    body: Annotated[Text, Field(max_length=50_000)]


class MessageRead(BaseModel):
    id: str
    request_id: str
    author_party: str
    created_at: datetime
    body: str


class MessageList(BaseModel):
    items: list[MessageRead]


class TransitionCreate(Strict):
    status: Status
    obstacles: Annotated[list[ObstacleCode], Field(max_length=20)] = Field(default_factory=list)
    note: Annotated[Text, Field(max_length=50_000)] | None = None

    _obstacles_unique = field_validator("obstacles")(classmethod(lambda cls, v: _unique(v)))


class ConvertCreate(Strict):
    """Turning a consultation into a formal request: optionally a new due date."""

    due_date: date | None = None


class ObstacleRead(BaseModel):
    code: str
    label: str
    label_fr: str | None = None
    description: str | None = None


class ObstacleList(BaseModel):
    items: list[ObstacleRead]


class ObstacleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: ObstacleCode
    label: Annotated[str, Field(min_length=1, max_length=200)]
    label_fr: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None


class ObstacleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str | None = None
    obstacles: Annotated[list[ObstacleIn], Field(min_length=1, max_length=500)]
