"""HTTP for hit/no-hit enquiries and hits: parse, call the service, render."""

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query, Request

from app.api import CurrentPrincipal, DbSession, RuntimeDep
from app.auth.principal import Principal
from app.enquiries import service
from app.enquiries.schemas import EnquiryCreate, EnquiryCreated, HitDecline, HitList, ReceivedHit
from app.ratelimit import limiter_for, per_ip
from app.runtime import Runtime

router = APIRouter(tags=["enquiries"])


def limit_enquiries(request: Request, runtime: Runtime, principal: Principal) -> None:
    """An enquiry probes data the caller may not see: limited per user and per party (API and
    portal share the limiters)."""
    settings = runtime.settings
    limiter_for(request.app.state, "enquiry_user", settings.enquiry_rate_per_minute).hit(
        principal.username)
    limiter_for(request.app.state, "enquiry_party", settings.enquiry_party_rate_per_minute).hit(
        principal.party)


@router.post("/enquiries", status_code=201, response_model=EnquiryCreated,
             dependencies=[Depends(per_ip("write", "ip_rate_per_minute"))])
def post_enquiry(body: EnquiryCreate, request: Request, session: DbSession, runtime: RuntimeDep,
                 principal: CurrentPrincipal) -> EnquiryCreated:
    """Hit/no-hit: which parties hold a strong match in notices the caller may not see."""
    limit_enquiries(request, runtime, principal)
    return service.create_enquiry(session, runtime, principal, body)


@router.get("/hits", response_model=HitList)
def get_hits(session: DbSession, runtime: RuntimeDep, principal: CurrentPrincipal,
             box: Literal["received", "sent"] = "received",
             status: Literal["pending", "shared", "declined"] | None = None,
             limit: Annotated[int, Query(ge=1, le=service.MAX_LIST)] = 100) -> HitList:
    """Received: hits on the caller's party's notices. Sent: the answers to its enquiries."""
    return HitList(items=service.list_hits(session, runtime, principal, box=box, status=status,
                                           limit=limit))


@router.post("/hits/{hit_id}/share", response_model=ReceivedHit)
def share_hit(hit_id: str, session: DbSession, runtime: RuntimeDep,
              principal: CurrentPrincipal) -> ReceivedHit:
    """The owner shares the matched notices with the enquirer (a new revision of each)."""
    return service.share_hit(session, runtime, principal, hit_id)


@router.post("/hits/{hit_id}/decline", response_model=ReceivedHit)
def decline_hit(hit_id: str, session: DbSession, runtime: RuntimeDep, principal: CurrentPrincipal,
                body: Annotated[HitDecline | None, Body()] = None) -> ReceivedHit:
    """The owner declines (optionally with a reason the enquirer sees)."""
    return service.decline_hit(session, runtime, principal, hit_id, body.reason if body else None)
