"""Request use cases: create, read, list, thread, transitions, conversion, obstacles.

Every query goes through policy.visible_requests; the status machine is app/requests/machine.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, literal, or_, select, true, union_all, update
from sqlalchemy.orm import Session

from app import policy
from app.audit.record import Action, denied, record, record_each
from app.auth.principal import Principal
from app.db import utcnow
from app.errors import Conflict, InvalidInput, NotFound
from app.notices.models import Notice
from app.notifications.service import notify
from app.params import decode_cursor, encode_cursor
from app.parties.service import registered_codes_query
from app.reference.service import known_numbers_query
from app.reference.vocabulary import parse_vocabulary_file, upsert_vocabulary, vocabulary_is_loaded
from app.requests.keys import message_aad
from app.requests.machine import FINAL, NEEDS_OBSTACLES, Side, allowed, permits
from app.requests.models import (
    CooperationRequest,
    Obstacle,
    RequestMessage,
    RequestNotice,
    RequestTransition,
)
from app.requests.schemas import (
    ConvertCreate,
    MessageCreate,
    MessageRead,
    ObstacleFile,
    RequestContent,
    RequestCreate,
    RequestRead,
    Status,
    TransitionCreate,
)
from app.requests.search import content_aad, index_request_subjects
from app.runtime import Runtime

MAX_PAGE = 100
DEFAULT_PAGE = 50
SHIPPED_OBSTACLES = "obstacles.json"
CR = CooperationRequest


def _bad(field: str, message: str, detail: str) -> InvalidInput:
    return InvalidInput(f"{field}: {detail}", errors=[{"field": field, "message": message}])


# -- deadlines ----------------------------------------------------------------------------------------
def due_at_of(runtime: Runtime, priority: str, due_date: date | None, now: datetime) -> datetime:
    """The end (UTC) of due_date, or the priority's default from now. A past date is refused."""
    if due_date is not None:
        if due_date < now.astimezone(UTC).date():
            raise _bad("due_date", "in the past", "must be today or later")
        return datetime.combine(due_date, time(23, 59, 59), tzinfo=UTC)
    settings = runtime.settings
    days = (settings.request_due_days_urgent if priority == "urgent"
            else settings.request_due_days_standard)
    return now + timedelta(days=days)


def overdue_sql(now: datetime) -> ColumnElement[bool]:
    """Past due_at and not in a final status (the one definition; is_overdue mirrors it)."""
    return and_(CR.due_at < now, CR.status.not_in([str(s) for s in FINAL]))


def is_overdue(request: CooperationRequest, now: datetime) -> bool:
    return request.due_at < now and Status(request.status) not in FINAL


# -- reading ------------------------------------------------------------------------------------------
def _side(principal: Principal, request: CooperationRequest) -> Side | None:
    side = policy.request_side(principal, request.requester, request.addressee)
    return Side(side) if side else None


def _split(value: str) -> list[str]:
    return value.split(",") if value else []


def _read(runtime: Runtime, principal: Principal, request: CooperationRequest, now: datetime,
          content: RequestContent | None = None) -> RequestRead:
    if content is None:
        content = RequestContent.model_validate_json(runtime.envelope.open(
            request.sealed(), content_aad(request.id, request.requester, request.addressee)))
    return RequestRead.model_construct(
        id=request.id, requester=request.requester, addressee=request.addressee,
        type=request.type,  # type: ignore[arg-type]  # stored from the validated Literal
        measures=_split(request.measures), legal_basis=content.legal_basis,
        priority=request.priority,  # type: ignore[arg-type]
        due_at=request.due_at, title=content.title, body=content.body, subjects=content.subjects,
        assets=content.assets, related_notices=[r.notice_id for r in request.related], tlp=request.tlp,
        paris_paragraphs=_split(request.paris_paragraphs), status=Status(request.status),
        obstacles=_split(request.obstacles), created_at=request.created_at,
        updated_at=request.updated_at, converted_at=request.converted_at,
        overdue=is_overdue(request, now),
        allowed_transitions=allowed(Status(request.status), _side(principal, request)))


def _valid_id(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _visible(session: Session, principal: Principal, request_id: str, action: Action,
             *, for_update: bool = False) -> CooperationRequest:
    """The request if principal's party is its requester or addressee; otherwise 404, audited."""
    request = None
    if _valid_id(request_id):
        query = select(CR).where(CR.id == request_id, policy.visible_requests(principal))
        if for_update:
            query = query.with_for_update()
        request = session.scalar(query)
    if request is None:
        attempted = request_id[:64] if request_id.isprintable() else None
        raise NotFound(on_rollback=denied(principal, action, attempted))
    return request


def get_request(session: Session, runtime: Runtime, principal: Principal, request_id: str,
                *, now: datetime | None = None) -> RequestRead:
    request = _visible(session, principal, request_id, Action.REQUEST_READ)
    record(session, principal, Action.REQUEST_READ, object_id=request.id)
    return _read(runtime, principal, request, now or utcnow())


def list_requests(session: Session, runtime: Runtime, principal: Principal, *, box: str = "inbox",
                  status: Status | None = None, overdue: bool | None = None, sort: str = "due",
                  limit: int = DEFAULT_PAGE, cursor: str | None = None,
                  now: datetime | None = None) -> tuple[list[RequestRead], str | None]:
    """The caller's inbox (addressed to its party) or outbox (sent by it), soonest due first (or newest
    first with sort=created); each listed request audited."""
    policy.require(policy.sees_content(principal), principal, Action.REQUEST_LIST,
                   detail="this role never sees request content")
    now = now or utcnow()
    side = CR.addressee if box == "inbox" else CR.requester
    query = select(CR).where(policy.visible_requests(principal), side == principal.party)
    if status is not None:
        query = query.where(CR.status == str(status))
    if overdue is not None:
        query = query.where(overdue_sql(now) if overdue else ~overdue_sql(now))
    key = CR.due_at if sort == "due" else CR.created_at
    if cursor:
        moment, last_id = decode_cursor(cursor)  # app/params.py: UTC and a UUID, or a 422
        if sort == "due":
            query = query.where(or_(key > moment, and_(key == moment, CR.id > last_id)))
        else:
            query = query.where(or_(key < moment, and_(key == moment, CR.id < last_id)))
    order = (key.asc(), CR.id.asc()) if sort == "due" else (key.desc(), CR.id.desc())
    limit = max(1, min(limit, MAX_PAGE))
    rows = list(session.scalars(query.order_by(*order).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    record_each(session, principal, Action.REQUEST_LIST, [row.id for row in rows])
    if not rows:
        record(session, principal, Action.REQUEST_LIST)
    items = [_read(runtime, principal, r, now) for r in rows]
    last = rows[-1] if rows else None
    next_cursor = None
    if more and last is not None:
        next_cursor = encode_cursor(last.due_at if sort == "due" else last.created_at, last.id)
    return items, next_cursor


# -- creating -----------------------------------------------------------------------------------------
def _check_references(session: Session, principal: Principal, doc: RequestCreate) -> None:
    """Addressee a registered party other than the caller's, paragraphs loaded, notices visible."""
    if doc.addressee == principal.party:
        raise _bad("addressee", "own party", "a party does not address requests to itself")
    tags = set(doc.paris_paragraphs)
    found = session.execute(union_all(
        registered_codes_query({doc.addressee}).add_columns(literal("party")),
        known_numbers_query(tags).add_columns(literal("paragraph")))).all()
    if not any(what == "party" for _, what in found):
        raise _bad("addressee", "unknown party", "not a registered party")
    unknown = tags - {value for value, what in found if what == "paragraph"}
    if unknown:
        raise _bad("paris_paragraphs", "unknown paragraph", "not in the loaded vocabulary")
    if doc.related_notices:
        seen = set(session.scalars(select(Notice.id).where(Notice.id.in_(doc.related_notices),
                                                          policy.visible_notices(principal))))
        if seen != set(doc.related_notices):
            # Absent and invisible notices are refused alike: nothing tells them apart.
            raise _bad("related_notices", "not visible", "every linked notice must be one you can see")


def create_request(session: Session, runtime: Runtime, principal: Principal, doc: RequestCreate,
                   *, now: datetime | None = None) -> RequestRead:
    """Send a request from the caller's party (requester from the token, never from the body)."""
    policy.require(policy.can_create_request(principal), principal, Action.REQUEST_CREATE,
                   detail="this role may not send requests")
    now = now or utcnow()
    due_at = due_at_of(runtime, doc.priority, doc.due_date, now)
    _check_references(session, principal, doc)
    request = CR(id=str(uuid.uuid4()), requester=principal.party, addressee=doc.addressee,
                 author_user_id=principal.user_id, type=doc.type, priority=doc.priority,
                 status=str(Status.SENT), measures=",".join(sorted(str(m) for m in doc.measures)),
                 paris_paragraphs=",".join(doc.paris_paragraphs), tlp=doc.tlp, obstacles="",
                 due_at=due_at, created_at=now, updated_at=now, version=1)
    content = RequestContent(title=doc.title, body=doc.body, legal_basis=doc.legal_basis,
                             subjects=doc.subjects, assets=doc.assets)
    request.store(runtime.envelope.seal(content.model_dump_json().encode(),
                                        content_aad(request.id, request.requester, request.addressee)))
    request.related = [RequestNotice(notice_id=n) for n in sorted(doc.related_notices)]
    session.add(request)
    session.flush()
    index_request_subjects(session, runtime, request.id, doc.subjects)
    notify(session, party=request.addressee, kind="request.received", object_type="request",
           object_id=request.id)
    record(session, principal, Action.REQUEST_CREATE, object_id=request.id)
    return _read(runtime, principal, request, now, content)


# -- the thread ---------------------------------------------------------------------------------------
def _add_message(session: Session, runtime: Runtime, principal: Principal, request: CooperationRequest,
                 body: str, now: datetime) -> RequestMessage:
    message = RequestMessage(id=str(uuid.uuid4()), request_id=request.id, author_party=principal.party,
                             author_user_id=principal.user_id, created_at=now)
    message.store(runtime.envelope.seal(body.encode(),
                                        message_aad(request.id, message.id, principal.party)))
    session.add(message)
    return message


def _other_party(principal: Principal, request: CooperationRequest) -> str:
    return request.addressee if principal.party == request.requester else request.requester


def post_message(session: Session, runtime: Runtime, principal: Principal, request_id: str,
                 doc: MessageCreate, *, now: datetime | None = None) -> MessageRead:
    """Add a message to the thread (either side, whatever the status); the other side is notified."""
    now = now or utcnow()
    request = _visible(session, principal, request_id, Action.REQUEST_MESSAGE)
    message = _add_message(session, runtime, principal, request, doc.body, now)
    session.flush()
    notify(session, party=_other_party(principal, request), kind="request.message",
           object_type="request", object_id=request.id)
    record(session, principal, Action.REQUEST_MESSAGE, object_id=request.id)
    return MessageRead(id=message.id, request_id=request.id, author_party=message.author_party,
                       created_at=now, body=doc.body)


def list_messages(session: Session, runtime: Runtime, principal: Principal,
                  request_id: str) -> list[MessageRead]:
    """The whole thread, oldest first (transition notes included)."""
    request = _visible(session, principal, request_id, Action.REQUEST_MESSAGES)
    rows = session.scalars(select(RequestMessage).where(RequestMessage.request_id == request.id)
                           .order_by(RequestMessage.created_at, RequestMessage.id))
    record(session, principal, Action.REQUEST_MESSAGES, object_id=request.id)
    return [MessageRead(id=m.id, request_id=request.id, author_party=m.author_party,
                        created_at=m.created_at,
                        body=runtime.envelope.open(m.sealed(), message_aad(request.id, m.id,
                                                                           m.author_party)).decode())
            for m in rows]


# -- transitions --------------------------------------------------------------------------------------
def _check_obstacles(session: Session, target: Status, codes: list[str]) -> None:
    if target in NEEDS_OBSTACLES and not codes:
        raise _bad("obstacles", "required", f"{target} needs at least one obstacle code")
    if codes and target not in NEEDS_OBSTACLES:
        raise _bad("obstacles", "not allowed", "only refused and partially_executed carry obstacles")
    if codes:
        known = set(session.scalars(select(Obstacle.code).where(Obstacle.code.in_(codes))))
        if known != set(codes):
            raise _bad("obstacles", "unknown code", "not in the obstacle vocabulary (GET /obstacles)")


def _compare_and_set(session: Session, request: CooperationRequest, **values: Any) -> None:
    """Apply values only if nobody changed the request since it was read: one of two racing moves wins."""
    result = session.execute(update(CR).where(CR.id == request.id, CR.version == request.version)
                             .values(version=request.version + 1, **values)
                             .execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("the request changed meanwhile; reload it and try again")
    session.refresh(request)


def transition_request(session: Session, runtime: Runtime, principal: Principal, request_id: str,
                       doc: TransitionCreate, *, now: datetime | None = None) -> RequestRead:
    """Move a request along the status machine; wrong side or impossible move → 409, audited."""
    now = now or utcnow()
    request = _visible(session, principal, request_id, Action.REQUEST_TRANSITION)
    current, target = Status(request.status), doc.status
    if not permits(current, target, _side(principal, request)):
        raise Conflict(f"a {_side(principal, request)} may not move a request from {current} to {target}",
                       on_rollback=denied(principal, Action.REQUEST_TRANSITION, request.id))
    _check_obstacles(session, target, doc.obstacles)
    values: dict[str, Any] = {"status": str(target), "updated_at": now}
    if target == Status.ACKNOWLEDGED:
        values["acknowledged_at"] = now
    if target in FINAL:
        values["closed_at"] = now
        values["obstacles"] = ",".join(doc.obstacles)
    _compare_and_set(session, request, **values)
    note = _add_message(session, runtime, principal, request, doc.note, now) if doc.note else None
    session.flush()
    session.add(RequestTransition(request_id=request.id, from_status=str(current), to_status=str(target),
                                  party=principal.party, user_id=principal.user_id,
                                  obstacles=",".join(doc.obstacles),
                                  message_id=note.id if note else None, created_at=now))
    notify(session, party=_other_party(principal, request), kind="request.status",
           object_type="request", object_id=request.id)
    record(session, principal, Action.REQUEST_TRANSITION, object_id=request.id)
    return _read(runtime, principal, request, now)


def convert_to_formal(session: Session, runtime: Runtime, principal: Principal, request_id: str,
                      doc: ConvertCreate, *, now: datetime | None = None) -> RequestRead:
    """The requester turns an open consultation into a formal request; id, thread and status carry on."""
    now = now or utcnow()
    request = _visible(session, principal, request_id, Action.REQUEST_CONVERT)
    if (_side(principal, request) != Side.REQUESTER or request.type != "consultation"
            or Status(request.status) in FINAL):
        raise Conflict("only the requester converts an open consultation into a formal request",
                       on_rollback=denied(principal, Action.REQUEST_CONVERT, request.id))
    values: dict[str, Any] = {"type": "formal", "converted_at": now, "updated_at": now}
    if doc.due_date is not None:
        values["due_at"] = due_at_of(runtime, request.priority, doc.due_date, now)
    _compare_and_set(session, request, **values)
    notify(session, party=request.addressee, kind="request.status", object_type="request",
           object_id=request.id)
    record(session, principal, Action.REQUEST_CONVERT, object_id=request.id)
    return _read(runtime, principal, request, now)


# -- operators: routing data only ---------------------------------------------------------------------
def list_routing(session: Session, principal: Principal, *, party: str | None = None,
                 overdue: bool = False, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every request's routing data (never content), for operators: who to whom, type, status, dates."""
    policy.require(policy.can_list_request_routing(principal), principal,
                   Action.REQUEST_ROUTING_LIST, detail="only operators list request routing")
    now = now or utcnow()
    query = select(CR.id, CR.requester, CR.addressee, CR.type, CR.priority, CR.status, CR.created_at,
                   CR.due_at, CR.obstacles)
    query = query.where(or_(CR.requester == party, CR.addressee == party) if party else true())
    query = query.where(overdue_sql(now) if overdue else true())
    rows = session.execute(query.order_by(CR.due_at, CR.id)).all()
    record(session, principal, Action.REQUEST_ROUTING_LIST, object_id=party)
    return [{"id": r.id, "requester": r.requester, "addressee": r.addressee, "type": r.type,
             "priority": r.priority, "status": r.status, "created_at": r.created_at.isoformat(),
             "due_at": r.due_at.isoformat(), "obstacles": _split(r.obstacles),
             "overdue": r.due_at < now and Status(r.status) not in FINAL} for r in rows]


# -- obstacles ----------------------------------------------------------------------------------------
def list_obstacles(session: Session) -> list[Obstacle]:
    return list(session.scalars(select(Obstacle).order_by(Obstacle.code)))


def parse_obstacles(raw: str | bytes) -> ObstacleFile:
    return parse_vocabulary_file(ObstacleFile, raw, "obstacle")


def load_obstacles(session: Session, actor: Principal, vocabulary: ObstacleFile) -> int:
    """Insert or update every obstacle of the file (codes already used stay: nothing is deleted)."""
    return upsert_vocabulary(session, actor, Action.OBSTACLES_LOAD, Obstacle, "code", vocabulary.obstacles,
                             "obstacle codes")


def load_obstacle_file(session: Session, actor: Principal, path: Path) -> int:
    return load_obstacles(session, actor, parse_obstacles(path.read_bytes()))


def ensure_shipped_obstacles(session: Session, actor: Principal) -> bool:
    """Load the shipped vocabulary when none is loaded yet."""
    if vocabulary_is_loaded(session, Obstacle, "code"):
        return False
    raw = resources.files("app.requests").joinpath(SHIPPED_OBSTACLES).read_text("utf-8")
    load_obstacles(session, actor, parse_obstacles(raw))
    return True

