"""HTTP for notices: parse, call the service, render."""

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BeforeValidator

from app.api import CurrentPrincipal, DbSession, RuntimeDep
from app.errors import InvalidInput
from app.notices import export, service
from app.notices.schemas import (
    NoticeDocument,
    NoticeKind,
    NoticeList,
    NoticeRead,
    RevisionList,
    canonical_code,
)
from app.params import Timestamp
from app.ratelimit import per_ip, per_user

router = APIRouter(prefix="/notices", tags=["notices"])
# Writes are rate-limited per client address (before authentication) and per user.
WRITE_LIMITS = [Depends(per_ip("write", "ip_rate_per_minute")),
                Depends(per_user("write", "write_rate_per_minute"))]


@router.post("", status_code=201, response_model=NoticeRead, dependencies=WRITE_LIMITS)
def post_notice(doc: NoticeDocument, session: DbSession, runtime: RuntimeDep,
                principal: CurrentPrincipal, request: Request, response: Response) -> NoticeRead:
    """Post a notice for the caller's party."""
    notice = service.create_notice(session, runtime, principal, doc)
    # The collection's own path plus the id: url_for would walk every route of the app (portal
    # included) on each post.
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{notice.id}"
    return _tagged(response, notice)


def _tagged(response: Response, notice: NoticeRead) -> NoticeRead:
    """The revision as a strong entity tag: what a client sends back in If-Match."""
    response.headers["ETag"] = f'"{notice.revision}"'
    return notice


@router.get("", response_model=NoticeList)
def list_notices(session: DbSession, runtime: RuntimeDep, principal: CurrentPrincipal,
                 kind: NoticeKind | None = None,
                 paris_paragraph: Annotated[str | None, Query(max_length=16)] = None,
                 author_party: Annotated[str | None, BeforeValidator(canonical_code),
                                         Query(pattern=r"^[A-Z][A-Z0-9]{1,7}$")] = None,
                 since: Timestamp | None = None,
                 limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = service.DEFAULT_PAGE,
                 cursor: Annotated[str | None, Query(max_length=512)] = None) -> NoticeList:
    """Notices visible to the caller, newest first."""
    items, next_cursor = service.list_notices(session, runtime, principal, kind=kind,
                                              paris_paragraph=paris_paragraph, author_party=author_party,
                                              since=since, limit=limit, cursor=cursor)
    return NoticeList(items=items, next_cursor=next_cursor)


@router.get("/{notice_id}", response_model=NoticeRead)
def get_notice(notice_id: str, session: DbSession, runtime: RuntimeDep,
               principal: CurrentPrincipal, response: Response) -> NoticeRead:
    return _tagged(response, service.get_notice(session, runtime, principal, notice_id))


def _if_match(value: str | None) -> int | None:
    if value is None:
        return None
    m = re.fullmatch(r'(?:W/)?"?(\d{1,9})"?', value.strip())
    if m is None:
        raise InvalidInput("If-Match: expected a revision number", errors=[{"field": "If-Match",
                                                                           "message": "invalid"}])
    return int(m.group(1))


@router.put("/{notice_id}", response_model=NoticeRead, dependencies=WRITE_LIMITS)
def put_notice(notice_id: str, doc: NoticeDocument, session: DbSession, runtime: RuntimeDep,
               principal: CurrentPrincipal,
               response: Response,
               if_match: Annotated[str | None, Header(max_length=32)] = None) -> NoticeRead:
    """Append a revision (author party only). Optional If-Match: the revision the edit is based on."""
    return _tagged(response, service.revise_notice(session, runtime, principal, notice_id, doc,
                                                   expected_revision=_if_match(if_match)))


@router.get("/{notice_id}/revisions", response_model=RevisionList)
def get_revisions(notice_id: str, session: DbSession, runtime: RuntimeDep,
                  principal: CurrentPrincipal) -> RevisionList:
    return RevisionList(items=service.list_revisions(session, runtime, principal, notice_id))


@router.get("/{notice_id}/export", response_class=Response, responses={200: {
    "description": "FollowTheMoney entities, one JSON object per line (README, FollowTheMoney export).",
    "content": {export.MEDIA_TYPE: {"schema": {"type": "string"}}}}})
def export_notice(notice_id: str, session: DbSession, runtime: RuntimeDep, principal: CurrentPrincipal,
                  fmt: Annotated[export.ExportFormat, Query(alias="format", description="Only `ftm`.")]
                  ) -> Response:
    """The notice's current revision as FollowTheMoney entities (JSON lines), audited as an export."""
    result = export.export_notice(session, runtime, principal, notice_id)
    name = f"notice-{result.notice_id}-r{result.revision}.ftm.json"
    return Response(content="".join(result.lines()), media_type=export.MEDIA_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "ETag": f'"{result.revision}"'})
