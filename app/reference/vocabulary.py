"""Shipped vocabularies (Paris Declaration paragraphs, obstacle codes): parse a file, upsert by code.

One loader for every code list a feature ships as data: entries are inserted or updated by their code
and never deleted (codes already used by notices or requests stay valid), in the caller's transaction,
with one audit entry for the load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.record import Action, record
from app.auth.principal import Principal
from app.errors import InvalidInput

FileT = TypeVar("FileT", bound=BaseModel)


def parse_vocabulary_file(schema: type[FileT], raw: str | bytes, what: str) -> FileT:
    """The file validated against schema, or a 422 naming the offending fields (never their values)."""
    try:
        return schema.model_validate_json(raw)
    except ValidationError as exc:
        fields = ", ".join(sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()}))
        raise InvalidInput(f"invalid {what} file: {fields}") from None


def upsert_vocabulary(session: Session, actor: Principal, action: Action, model: type[Any], key: str,
                      entries: Sequence[BaseModel], what: str) -> int:
    """Insert or update each entry's row of model, keyed by its `key` field; returns the count."""
    codes = [getattr(e, key) for e in entries]
    if len(set(codes)) != len(codes):
        raise InvalidInput(f"duplicate {what} in the file")
    existing = {getattr(row, key): row for row in session.scalars(select(model))}
    for entry in entries:
        values = entry.model_dump(exclude={key})
        row = existing.get(getattr(entry, key)) or model(**{key: getattr(entry, key)})
        for name, value in values.items():
            setattr(row, name, value)
        session.add(row)
    session.flush()
    record(session, actor, action)  # the count is not an object id (the audit keeps UUIDs only)
    return len(codes)


def vocabulary_is_loaded(session: Session, model: type[Any], key: str) -> bool:
    return session.scalar(select(getattr(model, key)).limit(1)) is not None
