"""HTTP for legal profiles: parse, call the service, render."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from app.api import CurrentPrincipal, DbSession, RuntimeDep
from app.legislation import service
from app.legislation.schemas import (
    Comparison,
    FreshnessList,
    Language,
    Measure,
    Profile,
    ProfileDocument,
    ProfileList,
    ProfileRevisionList,
)
from app.openapi import ALPHA3
from app.ratelimit import per_ip, per_user

router = APIRouter(prefix="/legislation", tags=["legislation"])
WRITE_LIMITS = [Depends(per_ip("write", "ip_rate_per_minute")),
                Depends(per_user("write", "write_rate_per_minute"))]
PartyQuery = Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")]
PartyPath = Annotated[str, Path(pattern=f"^{ALPHA3}$")]


@router.get("", response_model=ProfileList)
def search_profiles(session: DbSession, runtime: RuntimeDep, principal: CurrentPrincipal,
                    party: PartyQuery = None, measure: Measure | None = None,
                    language: Annotated[Language | None, Query()] = None,
                    q: Annotated[str | None, Query(max_length=500)] = None,
                    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = service.DEFAULT_PAGE
                    ) -> ProfileList:
    """Profiles by State, available measure, accepted request language, and full text (q), best
    match first (at most limit)."""
    return ProfileList(items=service.search_profiles(session, runtime, principal, party=party,
                                                     measure=measure, language=language, q=q,
                                                     limit=limit))


@router.get("/compare", response_model=Comparison)
def compare_profiles(session: DbSession, runtime: RuntimeDep, principal: CurrentPrincipal,
                     party: Annotated[list[Annotated[str, Query(pattern=r"^[A-Z]{3}$")]],
                                      Query(max_length=5)]) -> Comparison:
    """Two to five States side by side, measure by measure: ?party=FRA&party=NLD."""
    return service.compare_profiles(session, runtime, principal, party)


@router.get("/freshness", response_model=FreshnessList)
def freshness(session: DbSession, runtime: RuntimeDep, principal: CurrentPrincipal) -> FreshnessList:
    """Registered States with no profile or an out-of-date one."""
    return FreshnessList(items=service.freshness(session, runtime, principal))


@router.get("/{party:alpha3}", response_model=Profile, response_model_exclude_none=True)
def get_profile(party: PartyPath, session: DbSession, runtime: RuntimeDep,
                principal: CurrentPrincipal) -> Profile:
    return service.get_profile(session, runtime, principal, party)


@router.put("/{party:alpha3}", response_model=Profile, response_model_exclude_none=True,
            dependencies=WRITE_LIMITS)
def put_profile(party: PartyPath, doc: ProfileDocument, session: DbSession, runtime: RuntimeDep,
                principal: CurrentPrincipal) -> Profile:
    """Append a revision of the State's profile (its own focal points only)."""
    return service.revise_profile(session, runtime, principal, party, doc)


@router.get("/{party:alpha3}/revisions", response_model=ProfileRevisionList,
            response_model_exclude_none=True)
def get_revisions(party: PartyPath, session: DbSession, runtime: RuntimeDep,
                  principal: CurrentPrincipal) -> ProfileRevisionList:
    return ProfileRevisionList(items=service.list_revisions(session, runtime, principal, party))
