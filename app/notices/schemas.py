"""The notice document (CONTRACT.md, "Notices"), validated with field libraries."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from stdnum import bic, iban, imo, isin, lei
from stdnum.exceptions import ValidationError as StdnumError

from app.notices.models import BROADCAST
from app.unicode_policy import describe, refused_character


def _checked(value: str, *, free_text: bool) -> str:
    """Refuse what app.unicode_policy refuses (hostile or invisible Unicode); normalise to NFC."""
    if free_text:
        value = value.replace("\r\n", "\n")
    if (char := refused_character(value, free_text=free_text)) is not None:
        # The code point only: the surrounding text may be a name.
        raise ValueError(f"contains a character that is not allowed ({describe(char)})")
    value = unicodedata.normalize("NFC", value).strip()
    if not value:
        raise ValueError("must not be blank")
    return value


def _clean(value: str) -> str:
    return _checked(value, free_text=False)


def _clean_free_text(value: str) -> str:
    return _checked(value, free_text=True)


def canonical_code(value: object) -> object:
    """ISO and party codes are upper case: "cod", "che", "eur", "icc" are read as COD, CHE, EUR, ICC.
    Only ASCII is folded: a look-alike such as a dotless "ı" (which upper-cases to "I") or a
    full-width letter is left as typed, and then refused by the code's check, never guessed at."""
    if isinstance(value, str) and value.isascii():
        return value.upper()
    return value


def _alpha3(value: str) -> str:
    if len(value) != 3 or pycountry.countries.get(alpha_3=value) is None:
        raise ValueError("not an ISO 3166-1 alpha-3 country code")
    return value


def _currency(value: str) -> str:
    if len(value) != 3 or pycountry.currencies.get(alpha_3=value) is None:
        raise ValueError("not an ISO 4217 currency code")
    return value


def _past_date(value: date) -> date:
    if value > date.today():
        raise ValueError("must not be in the future")
    return value


Text = Annotated[str, AfterValidator(_clean)]
FreeText = Annotated[str, AfterValidator(_clean_free_text)]  # may hold newlines and tabs
# BeforeValidator after Field: it runs first, and the length check keeps its own error type.
Country = Annotated[str, Field(min_length=3, max_length=3), BeforeValidator(canonical_code),
                   AfterValidator(_alpha3)]
Currency = Annotated[str, Field(min_length=3, max_length=3), BeforeValidator(canonical_code),
                     AfterValidator(_currency)]
PastDate = Annotated[date, AfterValidator(_past_date)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=100_000)


# python-stdnum validators for identifier schemes with a known format (checksums included).
_STDNUM = {"iban": iban, "bic": bic, "lei": lei, "isin": isin, "imo": imo}


def validate_identifier(scheme: str, value: str) -> str:
    module = _STDNUM.get(scheme)
    if module is None:
        return value
    try:
        return module.compact(module.validate(value))
    except StdnumError as exc:
        raise ValueError(f"not a valid {scheme.upper()}") from exc


class Identifier(Strict):
    scheme: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")]
    value: Annotated[Text, Field(max_length=200)]

    @model_validator(mode="after")
    def _known_format(self) -> Identifier:
        self.value = validate_identifier(self.scheme, self.value)
        return self


class Subject(Strict):
    name: Annotated[Text, Field(max_length=300)]
    aliases: Annotated[list[Annotated[Text, Field(max_length=300)]], Field(max_length=50)] = []
    birth_date: PastDate | None = None
    nationality: Country | None = None
    identifiers: Annotated[list[Identifier], Field(max_length=50)] = []


class Money(Strict):
    amount: Annotated[Decimal, Field(ge=0, max_digits=20, decimal_places=4, allow_inf_nan=False)]
    currency: Currency


class AssetStatus(StrEnum):
    IDENTIFIED = "identified"
    TRACED = "traced"
    FROZEN = "frozen"
    SEIZED = "seized"
    CONFISCATED = "confiscated"
    RELEASED = "released"
    RETURNED = "returned"


# Asset types whose identifier has a checkable format.
_ASSET_IDENTIFIER_SCHEME = {"bank_account": "iban", "securities": "isin", "vessel": "imo"}


class Asset(Strict):
    type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")]
    description: Annotated[FreeText, Field(max_length=2000)] | None = None
    jurisdiction: Country | None = None
    identifier: Annotated[Text, Field(max_length=200)] | None = None
    value: Money | None = None
    status: AssetStatus
    status_date: PastDate | None = None
    order_reference: Annotated[Text, Field(max_length=200)] | None = None

    @model_validator(mode="after")
    def _identifier_format(self) -> Asset:
        scheme = _ASSET_IDENTIFIER_SCHEME.get(self.type)
        # A bank account identified by something IBAN-shaped must be a valid IBAN (checksum included);
        # other account numbers (non-IBAN countries) are accepted as given.
        if scheme and self.identifier and (scheme != "iban" or re.match(r"^[A-Z]{2}\d{2}", self.identifier)):
            self.identifier = validate_identifier(scheme, self.identifier)
        return self


NoticeKind = Literal["financial_investigation", "frozen_asset"]
Tlp = Literal["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"]
PartyCode = Annotated[str, Field(pattern=r"^(\*|[A-Z][A-Z0-9]{1,7})$"),
                      BeforeValidator(canonical_code)]
NO_BROADCAST_TLP = {"RED", "AMBER+STRICT"}


class NoticeDocument(Strict):
    """What a focal point writes; everything but routing data is encrypted at rest."""

    kind: NoticeKind
    title: Annotated[Text, Field(max_length=300)]
    tlp: Tlp  # before recipients: the recipients check reads it
    recipients: Annotated[list[PartyCode], Field(min_length=1, max_length=300)]
    paris_paragraphs: Annotated[list[Annotated[str, Field(pattern=r"^[0-9]{1,3}(\([a-z]\))?$")]],
                                Field(min_length=1, max_length=50)]
    reference: Annotated[Text, Field(max_length=200)] | None = None
    subjects: Annotated[list[Subject], Field(max_length=200)] = []
    assets: Annotated[list[Asset], Field(max_length=500)] = []
    narrative: Annotated[FreeText, Field(max_length=50_000)] | None = None

    @field_validator("recipients")
    @classmethod
    def _routing(cls, recipients: list[str], info: ValidationInfo) -> list[str]:
        if len(set(recipients)) != len(recipients):
            raise ValueError("duplicate party codes")
        if BROADCAST in recipients and len(recipients) > 1:
            raise ValueError('"*" stands alone')
        tlp = info.data.get("tlp")
        if BROADCAST in recipients and tlp in NO_BROADCAST_TLP:
            raise ValueError(f'TLP:{tlp} may not be broadcast to "*"')
        return recipients

    @field_validator("paris_paragraphs")
    @classmethod
    def _unique_paragraphs(cls, paragraphs: list[str]) -> list[str]:
        if len(set(paragraphs)) != len(paragraphs):
            raise ValueError("duplicate paragraphs")
        return paragraphs


class NoticeRead(NoticeDocument):
    """A stored notice as one revision had it."""

    model_config = ConfigDict(extra="ignore")

    id: str
    author_party: str
    revision: int
    created_at: datetime
    updated_at: datetime


class NoticeList(BaseModel):
    items: list[NoticeRead]
    next_cursor: str | None


class RevisionList(BaseModel):
    items: list[NoticeRead]
