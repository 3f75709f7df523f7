"""What key rotation does for requests (called by app/crypto/rotation.py): rewrap the data keys of request
content and messages under the active KEK, count what each KEK version still wraps, rebuild request
subject terms under a new index version, and purge a retired version's terms. Jobs: each batch is one
transaction; every step is resumable and idempotent."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from app.crypto.envelope import DecryptionError
from app.crypto.keyring import Keyring
from app.notices.schemas import Subject
from app.requests.models import CooperationRequest, RequestMessage, RequestSubjectTerm
from app.requests.search import content_aad
from app.runtime import Runtime
from app.search.blind_index import subject_terms

Sealed = type[CooperationRequest] | type[RequestMessage]


def message_aad(request_id: str, message_id: str, author_party: str) -> bytes:
    return f"arx/request-message|{request_id}|{message_id}|{author_party}".encode()


def _aad(row: Any) -> bytes:
    if isinstance(row, CooperationRequest):
        return content_aad(row.id, row.requester, row.addressee)
    return message_aad(row.request_id, row.id, row.author_party)


SEALED: dict[str, Sealed] = {"requests": CooperationRequest, "request_messages": RequestMessage}


def data_dependents(session: Session,
                    grouped: Callable[..., dict[int, int]]) -> dict[str, dict[int, int]]:
    """Rows of each sealed request table by the KEK version wrapping their data key."""
    return {name: grouped(session, model.key_version) for name, model in SEALED.items()}


def pending(session: Session, active: int) -> int:
    return sum(int(session.scalar(select(func.count()).select_from(model)
                                  .where(model.key_version != active)) or 0)
               for model in SEALED.values())


def rewrap(runtime: Runtime, active: int, batch_size: int,
           advance: Callable[[int], None]) -> tuple[int, int]:
    """Rewrap every request and message data key not under active; (rewrapped, unreadable)."""
    done = bad = 0
    for model in SEALED.values():
        after = ""
        while True:
            with runtime.db.unit_of_work() as session:
                rows: list[Any] = list(session.scalars(
                    select(model).where(model.key_version != active, model.id > after)
                    .order_by(model.id).limit(batch_size)))
                for row in rows:
                    try:
                        row.key_version, row.wrapped_key = runtime.envelope.rewrapped(
                            row.key_version, row.wrapped_key, _aad(row))
                        done += 1
                    except DecryptionError:
                        bad += 1
            advance(len(rows))
            if len(rows) < batch_size:
                break
            after = rows[-1].id
    return done, bad


def reindex(runtime: Runtime, ring: Keyring, version: int, batch_size: int) -> int:
    """Write request subject terms under index version for every request that has none yet."""
    written = 0
    after = ""
    while True:
        with runtime.db.unit_of_work() as session:
            has = select(RequestSubjectTerm.id).where(
                RequestSubjectTerm.request_id == CooperationRequest.id,
                RequestSubjectTerm.key_version == version).exists()
            rows = list(session.scalars(select(CooperationRequest).where(
                ~has, CooperationRequest.id > after).order_by(CooperationRequest.id)
                .limit(batch_size)))
            for row in rows:
                content = json.loads(runtime.envelope.open(row.sealed(), _aad(row)))
                terms = [{"request_id": row.id, "subject_no": no, "key_version": version,
                          "term": term}
                         for no, raw in enumerate(content.get("subjects", []))
                         for term in sorted(subject_terms(ring, version, Subject.model_validate(raw)))]
                if terms:
                    session.execute(insert(RequestSubjectTerm), terms)
                    written += 1
        if len(rows) < batch_size:
            return written
        after = rows[-1].id


def purge(runtime: Runtime, version: int) -> int:
    with runtime.db.unit_of_work() as session:
        result = session.execute(delete(RequestSubjectTerm).where(
            RequestSubjectTerm.key_version == version))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
