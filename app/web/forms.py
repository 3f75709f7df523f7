"""Turning pydantic and service errors into messages beside form fields, in the reader's language.

Pages validate with the very schemas the API uses; this module only says *where* an error belongs and
*how* to say it, never whether something is valid."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from app.web.render import N_

Translate = Callable[[str], str]

BY_TYPE = {
    "missing": N_("Enter a value."),
    "string_too_long": N_("This is too long."),
    "string_too_short": N_("This is too short."),
    "too_long": N_("There are too many of these."),
    "too_short": N_("Choose at least one."),
    "string_pattern_mismatch": N_("This is not in the expected format."),
    "date_from_datetime_parsing": N_("Enter a date as YYYY-MM-DD."),
    "date_parsing": N_("Enter a date as YYYY-MM-DD."),
    "date_type": N_("Enter a date as YYYY-MM-DD."),
    "decimal_parsing": N_("Enter an amount such as 1250000.00."),
    "decimal_type": N_("Enter an amount such as 1250000.00."),
    "decimal_max_places": N_("Use at most four decimals."),
    "decimal_max_digits": N_("This amount has too many digits."),
    "greater_than_equal": N_("This must not be negative."),
    "literal_error": N_("Choose one of the options."),
    "enum": N_("Choose one of the options."),
    "int_parsing": N_("Enter a whole number."),
}
# The schemas' own ValueError texts (app/notices/schemas.py), said in the reader's language.
BY_TEXT = {
    "not an ISO 3166-1 alpha-3 country code": N_("Enter an ISO 3166-1 alpha-3 country code, such as FRA."),
    "not an ISO 4217 currency code": N_("Enter an ISO 4217 currency code, such as EUR."),
    "must not be in the future": N_("This date must not be in the future."),
    "must not be blank": N_("Enter a value."),
    "contains control or invisible formatting characters":
        N_("This contains invisible formatting characters; retype it."),
    '"*" stands alone': N_("“Every party” cannot be combined with named parties."),
    "duplicate party codes": N_("A party is listed twice."),
    "duplicate paragraphs": N_("A paragraph is listed twice."),
    "unknown party": N_("This is not a registered party."),
    "unknown paragraph": N_("This paragraph is not in the Paris Declaration vocabulary."),
    "immutable": N_("The kind of a notice cannot change."),
}
BROADCAST_REFUSED = N_("TLP:RED and TLP:AMBER+STRICT notices cannot go to every party.")
NOT_VALID = N_("This is not valid.")
INVALID_SCHEME = N_("This is not a valid %(scheme)s.")


def message_for(error: Mapping[str, Any], _: Translate) -> str:
    """One pydantic error, as a sentence for the reader."""
    kind = str(error.get("type", ""))
    if kind == "value_error":
        text = str(error.get("ctx", {}).get("error", error.get("msg", "")))
        text = text.removeprefix("Value error, ")
        if text in BY_TEXT:
            return _(BY_TEXT[text])
        if text.startswith("TLP:") and "broadcast" in text:
            return _(BROADCAST_REFUSED)
        if text.startswith("contains a character that is not allowed"):
            return _(BY_TEXT["contains control or invisible formatting characters"])
        if text.startswith("not a valid "):
            return _(INVALID_SCHEME) % {"scheme": text.removeprefix("not a valid ")}
        return _(NOT_VALID)
    if kind in ("too_long", "too_short") and isinstance(error.get("input"), str):
        kind = f"string_{kind}"  # a length limit on text, not on a list
    if kind in BY_TYPE:
        return _(BY_TYPE[kind])
    return _(NOT_VALID)


def errors_of(exc: ValidationError, where: Callable[[Sequence[Any]], str],
              _: Translate) -> dict[str, str]:
    """{form field name: message} for a validation error; `where` maps a location to a field."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        errors.setdefault(where(tuple(error.get("loc", ()))), message_for(error, _))
    return errors


def service_errors(errors: list[dict[str, Any]] | None, where: Callable[[Sequence[Any]], str],
                   _: Translate) -> dict[str, str]:
    """{form field: message} for an InvalidInput a service raised (its `errors` name the fields)."""
    found: dict[str, str] = {}
    for error in errors or []:
        name = str(error.get("field", ""))
        message = str(error.get("message", ""))
        found.setdefault(where(tuple(name.split("."))), _(BY_TEXT[message]) if message in BY_TEXT
                         else _(NOT_VALID))
    return found
