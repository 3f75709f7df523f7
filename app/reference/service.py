"""The Paris Declaration vocabulary: loaded from a data file, read by everyone."""

import json
import re
from collections.abc import Collection
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import BindParameter, Select, select
from sqlalchemy.orm import Session

from app.audit.record import Action
from app.auth.principal import Principal
from app.reference.models import ParisParagraph
from app.reference.vocabulary import parse_vocabulary_file, upsert_vocabulary, vocabulary_is_loaded

SHIPPED_FILE = "paris_paragraphs.json"


class ParagraphIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(pattern=r"^[0-9]{1,3}(\([a-z]\))?$")
    addressee: str = Field(min_length=1, max_length=200)
    gist: str = Field(min_length=1, max_length=2000)
    text: str | None = Field(default=None, max_length=20_000)


class VocabularyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str | None = None
    paragraphs: list[ParagraphIn] = Field(min_length=1, max_length=500)


def shipped_vocabulary() -> dict[str, Any]:
    return json.loads(resources.files("app.reference").joinpath(SHIPPED_FILE).read_text("utf-8"))


def parse_vocabulary(raw: str | bytes) -> VocabularyFile:
    return parse_vocabulary_file(VocabularyFile, raw, "paragraph")


def load_paragraphs(session: Session, actor: Principal, vocabulary: VocabularyFile) -> int:
    """Insert or update every paragraph of the file (paragraphs already used by notices are kept)."""
    return upsert_vocabulary(session, actor, Action.PARAGRAPHS_LOAD, ParisParagraph, "number",
                             vocabulary.paragraphs, "paragraph numbers")


def load_paragraph_file(session: Session, actor: Principal, path: Path) -> int:
    return load_paragraphs(session, actor, parse_vocabulary(path.read_bytes()))


def ensure_shipped_paragraphs(session: Session, actor: Principal) -> bool:
    """Load the shipped vocabulary when none is loaded yet."""
    if vocabulary_is_loaded(session, ParisParagraph, "number"):
        return False
    load_paragraphs(session, actor, VocabularyFile.model_validate(shipped_vocabulary()))
    return True


def _sort_key(number: str) -> tuple[int, str]:
    m = re.match(r"^(\d+)(.*)$", number)
    return (int(m.group(1)), m.group(2)) if m else (10**6, number)


def list_paragraphs(session: Session) -> list[ParisParagraph]:
    return sorted(session.scalars(select(ParisParagraph)), key=lambda p: _sort_key(p.number))


def known_numbers_query(numbers: Collection[str] | BindParameter[Any]) -> Select[tuple[str]]:
    """The numbers among numbers that are in the loaded vocabulary."""
    return select(ParisParagraph.number).where(ParisParagraph.number.in_(numbers))

