"""POST /api/v1/search/subjects."""

from fastapi import APIRouter, Depends, Request

from app.api import CurrentPrincipal, DbSession, RuntimeDep
from app.ratelimit import limiter_for, per_ip
from app.search import service
from app.search.schemas import SubjectMatches, SubjectQuery

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
