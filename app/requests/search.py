"""Blind-index terms for request subjects, so the requester and addressee find them by name like notices."""

from collections.abc import Sequence

from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.notices.schemas import Subject
from app.requests.models import RequestSubjectTerm
from app.runtime import Runtime
from app.search.blind_index import subject_terms


def index_request_subjects(session: Session, runtime: Runtime, request_id: str,
                           subjects: Sequence[Subject]) -> None:
    """Terms of a new request's subjects under every usable index version (as for notices)."""
    keyring = runtime.keys.current()
    rows = [{"request_id": request_id, "subject_no": no, "key_version": version, "term": term}
            for version in keyring.usable_versions("index")
            for no, subject in enumerate(subjects)
            for term in sorted(subject_terms(keyring, version, subject))]
    if rows:
        session.execute(insert(RequestSubjectTerm), rows)
