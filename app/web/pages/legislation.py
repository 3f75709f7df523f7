"""Legislation pages: search (full text and filters), one State's profile with its history, the
comparison of two to five States, the freshness list, and the edit form — all through
app/legislation/service.py, so access, audit and validation are the API's own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from app import policy
from app.api import DbSession, RuntimeDep
from app.auth.principal import Principal
from app.errors import AppError, Forbidden, InvalidInput, NotFound
from app.legislation import service
from app.legislation.schemas import MEASURES, Profile, ProfileDocument
from app.web.deps import CsrfChecked, Form, PagePrincipal, field, portal_router
from app.web.forms import errors_of, service_errors
from app.web.render import N_, NavItem, gettext_for, render

router = portal_router()
NAV = [NavItem("/legislation", N_("Legislation"), order=60, when=policy.can_read_reference)]

MEASURE_LABELS = {
    "identification": N_("Identification"), "tracing": N_("Tracing"), "freezing": N_("Freezing"),
    "seizure": N_("Seizure"), "confiscation": N_("Confiscation"),
    "non_conviction_based_confiscation": N_("Non-conviction-based confiscation"),
    "value_based_confiscation": N_("Value-based confiscation"),
    "interim_measures_at_court_request": N_("Interim measures at the Court's request"),
}
FIELD_LABELS = {
    "language": N_("Language of the profile"), "summary": N_("Summary"),
    "time_limits": N_("Time limits"), "implementing_legislation": N_("Implementing legislation"),
    "competent_authorities": N_("Competent authorities"),
    "request_requirements": N_("Requirements for requests"),
}
SPARE_ROWS = 2


def _labels() -> dict[str, str]:
    labels = dict(FIELD_LABELS)
    labels.update({f"measures.{m}": label for m, label in MEASURE_LABELS.items()})
    return labels


@router.get("/legislation")
def legislation_search(request: Request, session: DbSession, runtime: RuntimeDep,
                       principal: PagePrincipal) -> Response:
    """Profiles by full text, available measure and accepted language."""
    _ = gettext_for(request)
    query = request.query_params
    values = {name: query.get(name, "").strip() for name in ("q", "measure", "language")}
    errors: dict[str, str] = {}
    if values["measure"] and values["measure"] not in MEASURES:
        errors["measure"] = _("Choose one of the options.")
    if values["language"] and not (len(values["language"]) == 2 and values["language"].isalpha()):
        errors["language"] = _("Enter an ISO 639-1 language code, such as fr.")
    items: list[Any] = []
    if not errors:
        items = service.search_profiles(
            session, runtime, principal, q=values["q"][:500] or None,
            measure=values["measure"] or None, language=values["language"].lower() or None)
    return render(request, "legislation/search.html", {
        "values": values, "errors": errors, "items": items, "measures": MEASURE_LABELS,
        "searched": any(values.values())}, status=422 if errors else 200)


@router.get("/legislation/compare")
def legislation_compare(request: Request, session: DbSession, runtime: RuntimeDep,
                        principal: PagePrincipal) -> Response:
    """Two to five States side by side, measure by measure."""
    _ = gettext_for(request)
    parties = [p.strip().upper()[:3] for p in request.query_params.getlist("party") if p.strip()]

    def failed(exc: AppError) -> Response | None:
        if isinstance(exc, InvalidInput):
            return render(request, "legislation/compare.html", {
                "comparison": None, "measures": MEASURE_LABELS,
                "error": _("Choose two to five different States.")}, status=422)
        return None

    request.state.on_error = failed
    comparison = service.compare_profiles(session, runtime, principal, parties[:6])
    return render(request, "legislation/compare.html", {"comparison": comparison,
                                                         "measures": MEASURE_LABELS,
                                                         "error": None})


@router.get("/legislation/freshness")
def legislation_freshness(request: Request, session: DbSession, runtime: RuntimeDep,
                          principal: PagePrincipal) -> Response:
    """States with no profile or one not revised for twelve months."""
    return render(request, "legislation/freshness.html", {
        "items": service.freshness(session, runtime, principal)})


@router.get("/legislation/{party}")
def legislation_profile(request: Request, party: str, session: DbSession, runtime: RuntimeDep,
                        principal: PagePrincipal) -> Response:
    """One State's profile, its revisions (who, when, what changed) and, for its focal points, Edit."""
    profile = service.get_profile(session, runtime, principal, party)
    revisions = service.list_revisions(session, runtime, principal, profile.party)
    return render(request, "legislation/profile.html", {
        "profile": profile, "revisions": list(reversed(revisions)), "measures": MEASURE_LABELS,
        "labels": _labels(), "can_edit": policy.can_write_for_party(principal, profile.party)})


# -- the edit form --------------------------------------------------------------------------------------
def _form_values(profile: Profile | None) -> dict[str, str]:
    """A stored profile as flat form values (the form's field names)."""
    values: dict[str, str] = {}
    if profile is None:
        return values
    values.update(language=profile.language, summary=profile.summary,
                  time_limits=profile.time_limits or "")
    rr = profile.request_requirements
    values.update(req_languages=", ".join(rr.get("languages", [])), req_channel=rr.get("channel", ""),
                  req_notes=rr.get("notes", ""),
                  req_dual="" if rr.get("dual_criminality") is None
                  else ("yes" if rr["dual_criminality"] else "no"))
    for m, entry in profile.measures.items():
        values[f"{m}__available"] = "yes" if entry.get("available") else "no"
        for key in ("legal_basis", "authority", "notes"):
            values[f"{m}__{key}"] = entry.get(key, "")
    for i, inst in enumerate(profile.implementing_legislation):
        for key in ("title", "reference", "url", "adopted", "articles"):
            values[f"inst{i}_{key}"] = str(inst.get(key, ""))
    for i, auth in enumerate(profile.competent_authorities):
        values[f"auth{i}_name"], values[f"auth{i}_role"] = auth.get("name", ""), auth.get("role", "")
    return values


def _rows(form: FormData | dict[str, str], prefix: str, keys: Sequence[str]) -> int:
    count = 0
    while any(f"{prefix}{count}_{k}" in form for k in keys):
        count += 1
    return count


def _document(form: FormData) -> dict[str, Any]:
    """The form as a profile document (empty rows and unanswered measures left out)."""
    def opt(name: str) -> str | None:
        return field(form, name) or None

    doc: dict[str, Any] = {"language": field(form, "language").lower(),
                           "summary": field(form, "summary"), "time_limits": opt("time_limits")}
    languages = [v.strip().lower() for v in field(form, "req_languages").replace(",", " ").split()]
    doc["request_requirements"] = {
        "languages": languages, "channel": field(form, "req_channel"), "notes": opt("req_notes"),
        "dual_criminality": {"yes": True, "no": False}.get(field(form, "req_dual"))}
    measures: dict[str, Any] = {}
    for m in MEASURES:
        available = field(form, f"{m}__available")
        if available or field(form, f"{m}__legal_basis"):
            measures[m] = {"available": available == "yes",
                           "legal_basis": field(form, f"{m}__legal_basis"),
                           "authority": opt(f"{m}__authority"), "notes": opt(f"{m}__notes")}
    doc["measures"] = measures
    keys = ("title", "reference", "url", "adopted", "articles")
    doc["implementing_legislation"] = [
        {k: opt(f"inst{i}_{k}") for k in keys} for i in range(_rows(form, "inst", keys))
        if any(field(form, f"inst{i}_{k}") for k in keys)]
    doc["competent_authorities"] = [
        {"name": field(form, f"auth{i}_name"), "role": field(form, f"auth{i}_role")}
        for i in range(_rows(form, "auth", ("name", "role")))
        if field(form, f"auth{i}_name") or field(form, f"auth{i}_role")]
    return {k: v for k, v in doc.items() if v is not None}


def _where(loc: Sequence[Any]) -> str:
    """A document location as the form field that holds it."""
    parts = [str(p) for p in loc]
    if not parts:
        return "_form"
    if parts[0] == "measures" and len(parts) >= 2:
        return f"{parts[1]}__{parts[2] if len(parts) > 2 else 'legal_basis'}"
    if parts[0] == "implementing_legislation" and len(parts) >= 3:
        return f"inst{parts[1]}_{parts[2]}"
    if parts[0] == "competent_authorities" and len(parts) >= 3:
        return f"auth{parts[1]}_{parts[2]}"
    if parts[0] == "request_requirements" and len(parts) >= 2:
        key = parts[1]
        return {"languages": "req_languages", "channel": "req_channel", "notes": "req_notes",
                "dual_criminality": "req_dual"}.get(key, "req_channel")
    return parts[0]


def _edit_page(request: Request, party: str, values: dict[str, str] | FormData,
               errors: dict[str, str], status: int = 200) -> Response:
    inst_keys = ("title", "reference", "url", "adopted", "articles")
    return render(request, "legislation/edit.html", {
        "party": party, "values": values, "errors": errors, "measures": MEASURE_LABELS,
        "instruments": _rows(values, "inst", inst_keys) + SPARE_ROWS,
        "authorities": _rows(values, "auth", ("name", "role")) + SPARE_ROWS}, status=status)


def _require_writer(principal: Principal, party: str) -> None:
    if not policy.can_write_for_party(principal, party):
        raise Forbidden("only the focal points of this State may revise its profile")


@router.get("/legislation/{party}/edit")
def legislation_edit(request: Request, party: str, session: DbSession, runtime: RuntimeDep,
                     principal: PagePrincipal) -> Response:
    _require_writer(principal, party)
    try:
        profile = service.get_profile(session, runtime, principal, party)
    except NotFound:
        profile = None  # a first profile
    return _edit_page(request, party, _form_values(profile), {})


@router.post("/legislation/{party}/edit", dependencies=[CsrfChecked])
def legislation_save(request: Request, party: str, session: DbSession, runtime: RuntimeDep,
                     principal: PagePrincipal, form: Form) -> Response:
    _ = gettext_for(request)
    _require_writer(principal, party)
    values = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    try:
        doc = ProfileDocument.model_validate(_document(form))
    except ValidationError as exc:
        return _edit_page(request, party, values, errors_of(exc, _where, _), status=422)

    def failed(exc: AppError) -> Response | None:
        if isinstance(exc, InvalidInput):
            return _edit_page(request, party, values, service_errors(exc.errors, _where, _),
                              status=422)
        return None

    request.state.on_error = failed
    service.revise_profile(session, runtime, principal, party, doc)
    return RedirectResponse(f"/legislation/{party}", status_code=303)
