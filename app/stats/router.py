"""HTTP for statistics: parse the breakdown and scope, call the service, render the table."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.api import CurrentPrincipal, DbSession
from app.stats import service
from app.stats.schemas import StatsTable

router = APIRouter(prefix="/stats", tags=["statistics"])
Year = Annotated[int | None, Query(ge=1900, le=9999, description="only notices (requests) of that year")]


def _table(table: service.StatsTable) -> StatsTable:
    return StatsTable(rows=table.rows, suppressed=table.suppressed)


@router.get("/notices", response_model=StatsTable)
def notice_statistics(session: DbSession, principal: CurrentPrincipal, by: service.NoticeBy,
                      scope: service.Scope = "mine", year: Year = None) -> StatsTable:
    """Notices per Paris paragraph, kind or posting month."""
    return _table(service.notice_statistics(session, principal, by=by, scope=scope, year=year))


@router.get("/assets", response_model=StatsTable)
def asset_statistics(session: DbSession, principal: CurrentPrincipal, by: service.AssetBy,
                     scope: service.Scope = "mine", year: Year = None) -> StatsTable:
    """Assets per status, jurisdiction (mine only), Paris paragraph, or posting month and status:
    counts and totals per currency."""
    return _table(service.asset_statistics(session, principal, by=by, scope=scope, year=year))


@router.get("/requests", response_model=StatsTable)
def request_statistics(session: DbSession, principal: CurrentPrincipal, by: service.RequestBy,
                       scope: service.Scope = "mine", year: Year = None) -> StatsTable:
    """Requests per addressee or requester (mine only), status, obstacle or priority: counts, median
    days to acknowledge and to close, share closed by the due date."""
    return _table(service.request_statistics(session, principal, by=by, scope=scope, year=year))
