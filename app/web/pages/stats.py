"""Statistics pages: charts (server-rendered SVG, shown as images) each followed by a table of the same
numbers and a CSV download, and the yearly report; all through app/stats (the API's statistics: same
scopes, same suppression, same audit)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Request, Response

from app import policy
from app.api import DbSession
from app.errors import InvalidInput, NotFound
from app.requests.service import list_obstacles
from app.stats import charts, service
from app.stats.report import report_csv
from app.web.deps import PagePrincipal, portal_router
from app.web.render import N_, NavItem, gettext_for, language, render

router = portal_router()
NAV = [NavItem("/stats", N_("Statistics"), order=60, when=policy.can_read_statistics)]
LABELS = {
    "identified": N_("Identified"), "traced": N_("Traced"), "frozen": N_("Frozen"),
    "seized": N_("Seized"), "confiscated": N_("Confiscated"), "released": N_("Released"),
    "returned": N_("Returned"), "urgent": N_("Urgent"), "standard": N_("Standard"),
    "sent": N_("Sent"), "acknowledged": N_("Acknowledged"), "in_progress": N_("In progress"),
    "executed": N_("Executed"), "partially_executed": N_("Partially executed"),
    "refused": N_("Refused"), "withdrawn": N_("Withdrawn"),
    "financial_investigation": N_("Financial investigation"), "frozen_asset": N_("Frozen asset"),
}
SCOPES = {"mine": N_("My party"), "platform": N_("Whole platform")}
SECTIONS = {
    "notices_by_paragraph": N_("Notices per Paris Declaration paragraph"),
    "notices_by_month": N_("Notices per month first posted"),
    "assets_by_status": N_("Assets by status and currency"),
    "assets_by_paragraph": N_("Assets per Paris Declaration paragraph and currency"),
    "assets_by_month": N_("Assets by month first posted, status and currency"),
    "requests_by_priority": N_("Requests by priority"),
    "requests_by_outcome": N_("Requests by outcome"),
    "obstacles_ranked": N_("Obstacles to execution, most frequent first"),
}
COLUMNS = {
    "paris_paragraph": N_("Paragraph"), "month": N_("Month"), "kind": N_("Kind"),
    "status": N_("Status"), "currency": N_("Currency"), "assets": N_("Assets"),
    "notices": N_("Notices"), "total": N_("Total"), "priority": N_("Priority"),
    "requests": N_("Requests"), "obstacle": N_("Obstacle"),
    "median_days_to_acknowledge": N_("Median days to acknowledge"),
    "median_days_to_close": N_("Median days to close"),
    "closed_on_time_share": N_("Share closed by the due date"),
}

# The texts of app/stats/charts.py, which translates them with the gettext it is given (marked here so
# that they are extracted into this page's catalog).
CHART_TEXTS = (N_("Assets by status over time"), N_("Month first posted"), N_("Assets"), N_("Month"),
               N_("Notices per Paris Declaration paragraph"), N_("Paragraph"), N_("Notices"),
               N_("Request turnaround per priority"), N_("Priority"), N_("Median days"),
               N_("Median days to acknowledge"), N_("Median days to close"), N_("Requests"),
               N_("Share closed by the due date"))


def _scope(request: Request) -> service.Scope:
    scope = request.query_params.get("scope", "mine")
    if scope not in ("mine", "platform"):
        raise InvalidInput("scope: mine or platform", errors=[{"field": "scope", "message": "unknown"}])
    return "platform" if scope == "platform" else "mine"


def _year(request: Request, *, required: bool = False) -> int | None:
    raw = request.query_params.get("year", "")
    if not raw and not required:
        return None
    if not raw.isdigit() or not 1900 <= int(raw) <= 9999:
        raise InvalidInput("year: a year such as 2026", errors=[{"field": "year", "message": "invalid"}])
    return int(raw)


def _query(scope: str, year: int | None) -> str:
    return f"scope={scope}" + (f"&year={year}" if year else "")


@router.get("/stats")
def stats_page(request: Request, session: DbSession, principal: PagePrincipal) -> Response:
    scope, year = _scope(request), _year(request)
    gettext = gettext_for(request)
    built = [charts.build(session, principal, name, scope=scope, year=year, gettext=gettext,
                          labels=LABELS) for name in charts.NAMES]
    return render(request, "stats/stats.html", {"charts": built, "scope": scope, "year": year,
                                               "scopes": SCOPES, "query": _query(scope, year),
                                               "today_year": datetime.now(UTC).year})


def _chart(request: Request, session: DbSession, principal: PagePrincipal, name: str) -> charts.Chart:
    if name not in charts.NAMES:
        raise NotFound()
    return charts.build(session, principal, name, scope=_scope(request), year=_year(request),
                        gettext=gettext_for(request), labels=LABELS)


# The chart is an image document: its own CSP lets pygal's <style> apply inside it, and nothing else
# (no script, no fetch). Pages that show it keep their strict CSP; the SVG holds no script anyway.
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


@router.get("/stats/charts/{name}.svg")
def chart_svg(request: Request, name: str, session: DbSession, principal: PagePrincipal) -> Response:
    chart = _chart(request, session, principal, name)
    return Response(chart.svg(), media_type="image/svg+xml",
                    headers={"content-security-policy": SVG_CSP, "cache-control": "no-store"})


@router.get("/stats/charts/{name}.csv")
def chart_csv(request: Request, name: str, session: DbSession, principal: PagePrincipal) -> Response:
    chart = _chart(request, session, principal, name)
    return Response(chart.csv(), media_type="text/csv; charset=utf-8", headers={
        "content-disposition": f'attachment; filename="arx-{name}.csv"', "cache-control": "no-store"})


def _obstacle_labels(request: Request, session: DbSession) -> dict[str, str]:
    french = language(request) == "fr"
    return {o.code: (o.label_fr if french and o.label_fr else o.label) for o in list_obstacles(session)}


@router.get("/stats/report")
def report_page(request: Request, session: DbSession, principal: PagePrincipal) -> Response:
    year = _year(request, required=True)
    assert year is not None
    report = service.yearly_report(session, principal, year)
    gettext = gettext_for(request)
    built = [charts.build(session, principal, name, scope="platform", year=year, gettext=gettext,
                          labels=LABELS, audit=False) for name in charts.NAMES]
    return render(request, "stats/report.html", {
        "report": report, "charts": built, "sections": SECTIONS, "columns": COLUMNS,
        "labels": LABELS, "obstacles": _obstacle_labels(request, session),
        "query": _query("platform", year)})


@router.get("/stats/report.csv")
def report_download(request: Request, session: DbSession, principal: PagePrincipal) -> Response:
    year = _year(request, required=True)
    assert year is not None
    report = service.yearly_report(session, principal, year)
    return Response(report_csv(report), media_type="text/csv; charset=utf-8", headers={
        "content-disposition": f'attachment; filename="arx-report-{year}.csv"',
        "cache-control": "no-store"})

