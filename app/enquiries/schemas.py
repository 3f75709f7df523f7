"""Enquiry and hit documents (CONTRACT.md, "Hit/no-hit enquiries and deconfliction")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from app.enquiries.identifiers import normalise_identifier
from app.notices.schemas import Country, PastDate, Strict, Text

MAX_SUBJECTS = 20


class EnquiryIdentifier(Strict):
    scheme: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")]
    value: Annotated[Text, Field(max_length=200)]


class EnquirySubject(Strict):
    name: Annotated[Text, Field(max_length=300)] | None = None
    birth_date: PastDate | None = None
    nationality: Country | None = None
    identifiers: Annotated[list[EnquiryIdentifier], Field(max_length=20, default_factory=list)]

    @model_validator(mode="after")
    def _something_to_match(self) -> EnquirySubject:
        if not (self.name or self.identifiers):
            raise ValueError("give a name or an identifier")
        for identifier in self.identifiers:
            # Normalised with python-stdnum (check digits included); invalid is refused, not guessed.
            identifier.value = normalise_identifier(identifier.scheme, identifier.value,
                                                    self.nationality, strict=True)
        return self


class EnquiryCreate(Strict):
    subjects: Annotated[list[EnquirySubject], Field(min_length=1, max_length=MAX_SUBJECTS)]
    purpose: Annotated[Text, Field(max_length=2000)]
    legal_basis: Annotated[Text, Field(max_length=2000)]


class HitRef(BaseModel):
    hit_id: str
    party: str


class EnquiryCreated(BaseModel):
    id: str
    created_at: datetime
    open_until: datetime
    hits: list[HitRef]


HitStatus = Literal["pending", "shared", "declined"]


class HitMatchRead(BaseModel):
    notice_id: str
    matched_on: list[str]


class ReceivedHit(BaseModel):
    """What the owner party sees: who asked, why, and which of its notices matched."""

    id: str
    origin: Literal["enquiry", "deconfliction"]
    enquirer: str
    purpose: str | None
    legal_basis: str | None
    notice_id: str
    matched_on: list[str]
    matches: list[HitMatchRead]
    revealed: bool
    status: HitStatus
    reason: str | None
    created_at: datetime
    decided_at: datetime | None


class SentHit(BaseModel):
    """What the enquirer sees: the holding party and the owner's answer, nothing of the notice."""

    id: str
    origin: Literal["enquiry", "deconfliction"]
    party: str
    status: HitStatus
    reason: str | None
    created_at: datetime


class HitList(BaseModel):
    items: list[ReceivedHit] | list[SentHit]


class HitDecline(Strict):
    reason: Annotated[Text, Field(max_length=2000)] | None = None
