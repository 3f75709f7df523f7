"""Writing blind-index terms for the subjects of a notice revision, and which index version answers."""

from collections.abc import Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from app.crypto.keyring import Keyring
from app.notices.schemas import Subject
from app.runtime import Runtime
from app.search.blind_index import subject_terms
from app.search.models import IndexBuild, SubjectTerm


def term_rows(keyring: Keyring, version: int, notice_id: str, revision: int,
              subjects: Sequence[Subject]) -> list[dict[str, object]]:
    """SubjectTerm rows for one revision's subjects under one index-key version."""
    return [{"notice_id": notice_id, "revision": revision, "subject_no": no, "key_version": version,
             "term": term}
            for no, subject in enumerate(subjects)
            for term in sorted(subject_terms(keyring, version, subject))]


def index_subjects(session: Session, runtime: Runtime, notice_id: str, revision: int,
                   subjects: Sequence[Subject], *, new_notice: bool = False) -> None:
    """Replace the notice's terms with those of this revision (old terms must stop matching), under
    every usable index version: during a rotation both the old and the new index stay complete."""
    if not new_notice:  # a notice created in this transaction has no old terms to drop
        session.execute(delete(SubjectTerm).where(SubjectTerm.notice_id == notice_id))
    keyring = runtime.keys.current()
    rows = [row for version in keyring.usable_versions("index")
            for row in term_rows(keyring, version, notice_id, revision, subjects)]
    if rows:  # a Core insert on the session's connection: the ORM's bulk path costs more than the rows
        session.connection().execute(insert(SubjectTerm), rows)


def searchable_version(session: Session, keyring: Keyring) -> int:
    """The newest usable index version whose build is complete (the oldest usable one always is)."""
    usable = keyring.usable_versions("index")
    if len(usable) == 1:  # no rotation under way (the usual case): no need to ask the database
        return min(usable)
    built = set(session.scalars(select(IndexBuild.key_version).where(
        IndexBuild.key_version.in_(usable), IndexBuild.completed_at.is_not(None))))
    return max({min(usable)} | built)
