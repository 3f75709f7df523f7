"""GET /api/v1/parties."""

from fastapi import APIRouter

from app.api import CurrentPrincipal, DbSession
from app.parties.schemas import PartyList, PartyRead
from app.parties.service import list_parties

router = APIRouter(tags=["reference"])


@router.get("/parties", response_model=PartyList)
def get_parties(session: DbSession, principal: CurrentPrincipal) -> PartyList:
    """Registered parties (code, name, kind)."""
    return PartyList(items=[PartyRead(code=p.code, name=p.name, kind=p.kind) for p in list_parties(session)])
