"""Query parameter types every router shares, so no route answers a 500 to a hostile query string.

- ``Timestamp``: an RFC 3339 date-time with a time zone, converted to UTC, refused (422) when it has no
  zone, is a date only, or falls outside what a UTC timestamp can hold (``0001-01-01T00:00:00+14:00``).
- ``encode_cursor`` / ``decode_cursor``: an opaque page cursor of (timestamp, UUID); anything else,
  including a NUL byte PostgreSQL would refuse, is a 422 naming the parameter.
- ``refuse_control_characters``: no query value may hold a control character (PostgreSQL refuses NUL in
  text; none has a meaning in a parameter). api.py applies it to every route.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from app.errors import InvalidInput

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _rfc3339_only(value: object) -> object:
    # pydantic would also read a bare number ("0.5") as a Unix time, or a date alone as midnight.
    if isinstance(value, str) and not _RFC3339.match(value):
        raise ValueError("expected an RFC 3339 date-time")
    return value


def to_utc(value: datetime) -> datetime:
    """value in UTC; ValueError without a time zone or when UTC cannot hold it (year 0 or 10000)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timezone required (e.g. 2026-01-01T00:00:00Z)")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("outside the range of UTC timestamps") from None


Timestamp = Annotated[datetime, BeforeValidator(_rfc3339_only), AfterValidator(to_utc)]
"""A query parameter holding an aware date-time, already in UTC."""


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: not a cursor this service issued",
                        errors=[{"field": field, "message": message}])


def encode_cursor(at: datetime, object_id: str) -> str:
    raw = json.dumps([to_utc(at).isoformat(), object_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, field: str = "cursor") -> tuple[datetime, str]:
    """(UTC timestamp, canonical UUID) from a cursor encode_cursor made; else InvalidInput on field."""
    try:
        at, object_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(at, str) or not isinstance(object_id, str) or not _RFC3339.match(at):
            raise ValueError
        when = to_utc(datetime.fromisoformat(at))
        if str(uuid.UUID(object_id)) != object_id:
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise _invalid(field, "invalid") from None
    return when, object_id


def refuse_control_characters(params: Iterable[tuple[str, str]], declared: Iterable[str]) -> None:
    """422 naming the first declared parameter whose value holds a control character."""
    known = set(declared)
    for name, value in params:
        if _CONTROL.search(value):
            # An undeclared name is whatever the client typed: never echoed.
            field = name if name in known else "query"
            raise InvalidInput(f"{field}: control characters are not allowed",
                               errors=[{"field": field, "message": "control character"}])
