"""A focal-point contact (CONTRACT.md, "Focal-point directory")."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.legislation.schemas import Language
from app.notices.schemas import Text

Area = Literal["financial_investigations", "asset_recovery", "arrest", "general"]
AREAS = ("financial_investigations", "asset_recovery", "arrest", "general")
Availability = Literal["office_hours", "24/7"]
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$")
_PHONE = re.compile(r"^\+[1-9][0-9 ()./-]{5,30}$")
_ZONES = frozenset(available_timezones())


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("not an e-mail address")
    return value


def _phone(value: str) -> str:
    if not _PHONE.match(value):
        raise ValueError("not an international phone number (+country code …)")
    return value


def _zone(value: str) -> str:
    if value not in _ZONES:
        raise ValueError("not an IANA time zone")
    return value


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("duplicate values")
    return values


class ContactDocument(BaseModel):
    """What a focal point writes for a contact of its own party."""

    model_config = ConfigDict(extra="forbid", str_max_length=2000)

    party: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]{1,7}$")] | None = None
    name: Annotated[Text, Field(max_length=200)]
    function: Annotated[Text, Field(max_length=200)]
    unit: Annotated[Text, Field(max_length=200)] | None = None
    areas: Annotated[list[Area], Field(min_length=1, max_length=4), AfterValidator(_unique)]
    languages: Annotated[list[Language], Field(min_length=1, max_length=10), AfterValidator(_unique)]
    email: Annotated[str, Field(max_length=254), AfterValidator(_email)] | None = None
    phone: Annotated[str, Field(max_length=40), AfterValidator(_phone)] | None = None
    time_zone: Annotated[str, Field(max_length=64), AfterValidator(_zone)] | None = None
    availability: Availability
    deputy_of: Annotated[str, Field(max_length=36)] | None = None


class ContactRead(BaseModel):
    id: str
    party: str
    name: str
    function: str
    unit: str | None = None
    areas: list[str]
    languages: list[str]
    email: str | None = None
    phone: str | None = None
    time_zone: str | None = None
    availability: str
    deputy_of: str | None = None
    confirmed_at: datetime
    stale: bool
    revision: int
    updated_at: datetime


class ContactList(BaseModel):
    items: list[ContactRead]
