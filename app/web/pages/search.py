"""Suspect search: name, birth date, nationality → scored matches from visible notices, through
app/search/service.py (the API's search: same visibility, same audit with the query sealed).

The form is POSTed, never sent as a query string, so no name lands in a URL, a history or a log."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from pydantic import ValidationError

from app import policy
from app.api import DbSession, RuntimeDep
from app.errors import AppError, Forbidden, InvalidInput
from app.search.schemas import SubjectQuery
from app.search.service import search_subjects
from app.web.deps import CsrfChecked, Form, PagePrincipal, field, portal_router
from app.web.forms import errors_of, service_errors
from app.web.render import N_, NavItem, gettext_for, render

router = portal_router()
NAV = [NavItem("/search", N_("Suspect search"), order=30, when=policy.can_search_subjects)]
RESULTS = 25
MATCHED = {"name": N_("name"), "alias": N_("alias"), "birth_date": N_("date of birth"),
           "nationality": N_("nationality"), "identifier": N_("identifier")}


def _page(request: Request, values: dict[str, str], *, matches: list[Any] | None = None,
          errors: dict[str, str] | None = None, status: int = 200) -> Response:
    return render(request, "search/search.html", {"values": values, "matches": matches,
                                                 "errors": errors or {}, "matched": MATCHED},
                  status=status)


@router.get("/search")
def search_form(request: Request, principal: PagePrincipal) -> Response:
    if not policy.can_search_subjects(principal):
        raise Forbidden("this role may not search subjects")
    return _page(request, {})


@router.post("/search", dependencies=[CsrfChecked])
def search(request: Request, session: DbSession, runtime: RuntimeDep, principal: PagePrincipal,
           form: Form) -> Response:
    _ = gettext_for(request)
    values = {name: field(form, name) for name in ("name", "birth_date", "nationality")}
    raw: dict[str, Any] = {"name": values["name"], "limit": RESULTS}
    if values["birth_date"]:
        raw["birth_date"] = values["birth_date"]
    if values["nationality"]:
        raw["nationality"] = values["nationality"].upper()

    def where(loc: Any) -> str:
        return str(loc[0]) if loc and loc[0] in values else "name"

    try:
        query = SubjectQuery.model_validate(raw)
    except ValidationError as exc:
        return _page(request, values, errors=errors_of(exc, where, _), status=422)

    def failed(exc: AppError) -> Response | None:
        if isinstance(exc, InvalidInput):
            errors = service_errors(exc.errors, where, _)
            if exc.errors and exc.errors[0].get("message") == "no name tokens":
                errors = {"name": _("Enter a name (titles and punctuation alone find nothing).")}
            return _page(request, values, errors=errors, status=422)
        return None

    request.state.on_error = failed
    matches = search_subjects(session, runtime, principal, query)
    return _page(request, values, matches=matches)
