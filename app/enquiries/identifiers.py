"""Identifier normalisation for strong matches: python-stdnum compaction and validation per scheme."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pycountry
from stdnum import bic, iban, imo, isin, lei
from stdnum.exceptions import ValidationError
from stdnum.util import get_cc_module

from app.search.normalise import identifier_key

_SCHEMES: dict[str, ModuleType] = {"iban": iban, "bic": bic, "lei": lei, "isin": isin, "imo": imo}
NATIONAL_ID = "national_id"


def _national_module(nationality: str | None) -> Any:
    """stdnum's personal-id module of the subject's nationality, where stdnum has one."""
    if not nationality:
        return None
    country = pycountry.countries.get(alpha_3=nationality)
    if country is None:
        return None
    return get_cc_module(country.alpha_2.lower(), "personalid")


def normalise_identifier(scheme: str, value: str, nationality: str | None = None, *,
                         strict: bool = False) -> str:
    """The canonical form of an identifier: stdnum's compact form (validated when strict) for the
    schemes stdnum knows, else upper-case letters and digits. Strict refuses invalid input (422);
    stored notice values are read leniently (they were validated, or not, when posted)."""
    module: Any = _SCHEMES.get(scheme) or (_national_module(nationality) if scheme == NATIONAL_ID else None)
    if module is not None:
        try:
            return str(module.compact(module.validate(value)))
        except ValidationError:
            if strict:
                raise ValueError(f"not a valid {scheme.upper()}") from None
            return identifier_key(value)
    key = identifier_key(value)
    if strict and not 4 <= len(key) <= 64:
        raise ValueError(f"not a valid {scheme} identifier (4 to 64 letters or digits)")
    return key
