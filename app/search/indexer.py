"""Writing blind-index terms for the subjects of a notice revision."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.runtime import Runtime
from app.search.models import SubjectTerm


def index_subjects(session: Session, runtime: Runtime, notice_id: str, revision: int,
                   subjects: Sequence[Any]) -> None:
    """Replace the notice's terms with those of this revision (old terms must stop matching)."""
    session.execute(delete(SubjectTerm).where(SubjectTerm.notice_id == notice_id))
