"""POST /api/v1/search/subjects and POST /api/v1/search/batch."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from app.api import CurrentPrincipal, DbSession, RuntimeDep
from app.ratelimit import limiter_for, per_ip
from app.search import service
from app.search.batch import DEFAULT_THRESHOLD, match_batch
from app.search.schemas import MAX_LIMIT, EntityMatchQuery, EntityMatchResponse, SubjectMatches, SubjectQuery

router = APIRouter(prefix="/search", tags=["search"])


@router.post("/subjects", response_model=SubjectMatches,
             dependencies=[Depends(per_ip("search", "ip_rate_per_minute"))])
def search_subjects(query: SubjectQuery, request: Request, session: DbSession, runtime: RuntimeDep,
                    principal: CurrentPrincipal) -> SubjectMatches:
    """Subjects of notices visible to the caller, best first (rate-limited per user)."""
    limiter_for(request.app.state, "search", runtime.settings.search_rate_per_minute).hit(
        principal.username)
    from app.requests.search import search_request_subjects

    matches = service.search_subjects(session, runtime, principal, query)
    return SubjectMatches(matches=matches,
                          request_matches=search_request_subjects(session, runtime, principal, query))


@router.post("/batch", response_model=EntityMatchResponse, response_model_by_alias=True,
             dependencies=[Depends(per_ip("search", "ip_rate_per_minute"))])
def search_batch(body: EntityMatchQuery, request: Request, session: DbSession, runtime: RuntimeDep,
                 principal: CurrentPrincipal,
                 limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 5,
                 threshold: Annotated[float, Query(ge=0, le=1)] = DEFAULT_THRESHOLD,
                 ) -> EntityMatchResponse:
    """Up to 100 subject queries in the shape of yente's POST /match, each answered, audited and
    counted against the caller's search rate like one POST /search/subjects."""
    limiter = limiter_for(request.app.state, "search", runtime.settings.search_rate_per_minute)
    return match_batch(session, runtime, principal, body, limit=limit, threshold=threshold,
                       spend=lambda: limiter.hit(principal.username))
