"""The legal profile of a State (CONTRACT.md, "Legislation database"), validated field by field."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import pycountry
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.notices.schemas import FreeText, Text

MEASURES = ("identification", "tracing", "freezing", "seizure", "confiscation",
            "non_conviction_based_confiscation", "value_based_confiscation",
            "interim_measures_at_court_request")
Measure = Literal["identification", "tracing", "freezing", "seizure", "confiscation",
                  "non_conviction_based_confiscation", "value_based_confiscation",
                  "interim_measures_at_court_request"]


def _language(value: str) -> str:
    if len(value) != 2 or pycountry.languages.get(alpha_2=value) is None:
        raise ValueError("not an ISO 639-1 language code")
    return value


def _url(value: str) -> str:
    # Kept exactly as given (a normalising URL type would add slashes and break lossless round trips).
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
        raise ValueError("not an http(s) URL")
    return value


Language = Annotated[str, Field(min_length=2, max_length=2), AfterValidator(_language)]
Url = Annotated[str, Field(max_length=2000), AfterValidator(_url)]
Short = Annotated[Text, Field(max_length=500)]
Long = Annotated[FreeText, Field(max_length=20_000)]  # free text: newlines and tabs allowed


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=20_000)


class Instrument(Strict):
    title: Short
    reference: Short
    url: Url | None = None
    adopted: date | None = None
    articles: Short | None = None


class MeasureEntry(Strict):
    available: bool
    legal_basis: Long
    authority: Short | None = None
    notes: Long | None = None


class Measures(Strict):
    """Only the contract's measure keys; an unknown key is refused naming measures.<key>."""

    identification: MeasureEntry | None = None
    tracing: MeasureEntry | None = None
    freezing: MeasureEntry | None = None
    seizure: MeasureEntry | None = None
    confiscation: MeasureEntry | None = None
    non_conviction_based_confiscation: MeasureEntry | None = None
    value_based_confiscation: MeasureEntry | None = None
    interim_measures_at_court_request: MeasureEntry | None = None


class Authority(Strict):
    name: Short
    role: Short


class RequestRequirements(Strict):
    languages: Annotated[list[Language], Field(min_length=1, max_length=20)]
    channel: Short
    dual_criminality: bool | None = None
    notes: Long | None = None


class ProfileDocument(Strict):
    """What a State's focal points write (PUT /legislation/{party})."""

    language: Language
    summary: Long
    implementing_legislation: Annotated[list[Instrument], Field(max_length=100)] = []
    measures: Measures
    competent_authorities: Annotated[list[Authority], Field(max_length=50)] = []
    request_requirements: RequestRequirements
    time_limits: Long | None = None

    def stored(self) -> dict[str, Any]:
        """The canonical stored form: absent and null fields are the same, so round trips are exact."""
        return self.model_dump(mode="json", exclude_none=True)


class ProfileImport(ProfileDocument):
    """One profile of an import file: the document plus its party (read-only fields are ignored)."""

    party: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    revision: int | None = None
    updated_at: datetime | None = None
    out_of_date: bool | None = None


class Profile(BaseModel):
    """A stored profile as read (GET /legislation/{party})."""

    party: str
    revision: int
    updated_at: datetime
    out_of_date: bool
    language: str
    summary: str
    implementing_legislation: list[dict[str, Any]]
    measures: dict[str, dict[str, Any]]
    competent_authorities: list[dict[str, Any]]
    request_requirements: dict[str, Any]
    time_limits: str | None = None


class ProfileSummary(BaseModel):
    """One search result: enough to choose which profiles to open or compare."""

    party: str
    party_name: str
    revision: int
    updated_at: datetime
    out_of_date: bool
    language: str
    summary: str
    available_measures: list[str]
    request_languages: list[str]
    score: int | None = None


class ProfileList(BaseModel):
    items: list[ProfileSummary]


class RevisionRead(Profile):
    author: str
    author_party: str
    changes: list[str]


class ProfileRevisionList(BaseModel):
    items: list[RevisionRead]


class MeasureRow(BaseModel):
    measure: str
    by_party: dict[str, dict[str, Any] | None]


class Comparison(BaseModel):
    parties: list[str]
    profiles: list[Profile]
    measures: list[MeasureRow]


class FreshnessItem(BaseModel):
    party: str
    party_name: str
    status: Literal["missing", "out_of_date"]
    updated_at: datetime | None


class FreshnessList(BaseModel):
    items: list[FreshnessItem]


class ImportResult(BaseModel):
    revised: list[str]
    unchanged: list[str]
