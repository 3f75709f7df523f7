"""What requests seal and index, declared for the key jobs of app/keys/tables.py: request content and
messages (`arx keys rewrap` moves their data keys, `retire` counts them), and request subject terms
(`arx keys reindex` writes them under the new index version, `retire` purges the old version's)."""

from __future__ import annotations

from typing import Any

from app.crypto.columns import SealedTable, TermTable
from app.crypto.keyring import Keyring
from app.notices.schemas import Subject
from app.requests.models import CooperationRequest, RequestMessage, RequestSubjectTerm
from app.requests.search import content_aad, term_rows


def message_aad(request_id: str, message_id: str, author_party: str) -> bytes:
    return f"arx/request-message|{request_id}|{message_id}|{author_party}".encode()


def _subject_rows(ring: Keyring, version: int, request: Any, content: dict[str, Any]) -> list[dict[str, Any]]:
    subjects = [Subject.model_validate(raw) for raw in content.get("subjects", [])]
    return term_rows(ring, version, request.id, subjects)


REQUESTS = SealedTable("requests", CooperationRequest,
                       lambda row: content_aad(row.id, row.requester, row.addressee))
SEALED = (REQUESTS,
          SealedTable("request_messages", RequestMessage,
                      lambda row: message_aad(row.request_id, row.id, row.author_party)))
TERMS = (TermTable("requests", REQUESTS, RequestSubjectTerm, "request_id", _subject_rows),)
