"""HTTP for requests for cooperation and the obstacle vocabulary: parse, call the service, render."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from app.api import CurrentPrincipal, DbSession, RuntimeDep
from app.ratelimit import per_ip, per_user
from app.requests import service
from app.requests.schemas import (
    ConvertCreate,
    MessageCreate,
    MessageList,
    MessageRead,
    ObstacleList,
    ObstacleRead,
    RequestCreate,
    RequestList,
    RequestRead,
    Status,
    TransitionCreate,
)

router = APIRouter(prefix="/requests", tags=["requests"])
obstacles_router = APIRouter(tags=["reference"])
WRITE_LIMITS = [Depends(per_ip("write", "ip_rate_per_minute")),
                Depends(per_user("write", "write_rate_per_minute"))]


@router.post("", status_code=201, response_model=RequestRead, dependencies=WRITE_LIMITS)
def post_request(doc: RequestCreate, session: DbSession, runtime: RuntimeDep,
                 principal: CurrentPrincipal) -> RequestRead:
    """Send a request for cooperation from the caller's party to another party."""
    return service.create_request(session, runtime, principal, doc)


@router.get("", response_model=RequestList)
def list_requests(session: DbSession, runtime: RuntimeDep, principal: CurrentPrincipal,
                  box: Literal["inbox", "outbox"] = "inbox", status: Status | None = None,
                  overdue: bool | None = None, sort: Literal["due", "created"] = "due",
                  limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = service.DEFAULT_PAGE,
                  cursor: Annotated[str | None, Query(max_length=512)] = None) -> Response:
    """The caller's inbox or outbox, soonest due first (sort=created: newest first)."""
    items, next_cursor = service.list_requests(session, runtime, principal, box=box, status=status,
                                               overdue=overdue, sort=sort, limit=limit, cursor=cursor)
    # Items were validated when their content was opened: serialise once instead of FastAPI's
    # dump-and-revalidate of the response model (which would validate every subject a second time).
    return Response(RequestList(items=items, next_cursor=next_cursor).model_dump_json(),
                    media_type="application/json")


@router.get("/{request_id}", response_model=RequestRead)
def get_request(request_id: str, session: DbSession, runtime: RuntimeDep,
                principal: CurrentPrincipal) -> RequestRead:
    return service.get_request(session, runtime, principal, request_id)


@router.post("/{request_id}/messages", status_code=201, response_model=MessageRead,
             dependencies=WRITE_LIMITS)
def post_message(request_id: str, doc: MessageCreate, session: DbSession, runtime: RuntimeDep,
                 principal: CurrentPrincipal) -> MessageRead:
    return service.post_message(session, runtime, principal, request_id, doc)


@router.get("/{request_id}/messages", response_model=MessageList)
def list_messages(request_id: str, session: DbSession, runtime: RuntimeDep,
                  principal: CurrentPrincipal) -> MessageList:
    return MessageList(items=service.list_messages(session, runtime, principal, request_id))


@router.post("/{request_id}/transitions", response_model=RequestRead, dependencies=WRITE_LIMITS)
def post_transition(request_id: str, doc: TransitionCreate, session: DbSession, runtime: RuntimeDep,
                    principal: CurrentPrincipal) -> RequestRead:
    """Move the request to another status (409 when the caller's side may not)."""
    return service.transition_request(session, runtime, principal, request_id, doc)


@router.post("/{request_id}/convert", response_model=RequestRead, dependencies=WRITE_LIMITS)
def post_convert(request_id: str, session: DbSession, runtime: RuntimeDep, principal: CurrentPrincipal,
                 doc: ConvertCreate | None = None) -> RequestRead:
    """Turn a consultation into a formal request (requester only), keeping its thread."""
    return service.convert_to_formal(session, runtime, principal, request_id, doc or ConvertCreate())


@obstacles_router.get("/obstacles", response_model=ObstacleList)
def list_obstacles(session: DbSession, principal: CurrentPrincipal) -> ObstacleList:
    """The obstacle vocabulary (codes for refused and partially executed requests)."""
    return ObstacleList(items=[ObstacleRead(code=o.code, label=o.label, label_fr=o.label_fr,
                                            description=o.description)
                               for o in service.list_obstacles(session)])
