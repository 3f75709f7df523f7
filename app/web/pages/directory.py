"""Directory pages: the contacts of every party (filters), and for a party's own focal points the add
and edit forms, retiring, and the confirmation page of contacts due for confirmation — all through
app/directory/service.py (reads audited per contact, writes by the contact's own party only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from app import policy
from app.api import DbSession, RuntimeDep
from app.directory import service
from app.directory.schemas import AREAS, ContactDocument, ContactRead
from app.errors import AppError, Forbidden, InvalidInput
from app.web.deps import CsrfChecked, Form, PagePrincipal, field, portal_router
from app.web.forms import errors_of, service_errors
from app.web.render import N_, NavItem, gettext_for, render

router = portal_router()
NAV = [NavItem("/directory", N_("Directory"), order=70, when=policy.can_read_reference)]

AREA_LABELS = {"financial_investigations": N_("Financial investigations"),
               "asset_recovery": N_("Asset recovery"), "arrest": N_("Arrest"),
               "general": N_("General")}
AVAILABILITY = {"office_hours": N_("Office hours"), "24/7": N_("24/7")}
TEXT_FIELDS = ("name", "function", "unit", "email", "phone", "time_zone", "availability",
               "deputy_of", "languages")


@router.get("/directory")
def directory_list(request: Request, session: DbSession, runtime: RuntimeDep,
                   principal: PagePrincipal) -> Response:
    """Active contacts by party, area and language; stale ones marked."""
    _ = gettext_for(request)
    query = request.query_params
    values = {name: query.get(name, "").strip() for name in ("party", "area", "language")}
    errors: dict[str, str] = {}
    values["party"] = values["party"].upper()
    if values["party"] and not (values["party"].isalnum() and len(values["party"]) <= 8):
        errors["party"] = _("Choose one of the options.")
    if values["area"] and values["area"] not in AREAS:
        errors["area"] = _("Choose one of the options.")
    if values["language"] and not (len(values["language"]) == 2 and values["language"].isalpha()):
        errors["language"] = _("Enter an ISO 639-1 language code, such as fr.")
    items: list[ContactRead] = []
    if not errors:
        items = service.list_contacts(session, runtime, principal, party=values["party"] or None,
                                      area=values["area"] or None,
                                      language=values["language"].lower() or None)
    return render(request, "directory/list.html", {
        "items": items, "values": values, "errors": errors, "areas": AREA_LABELS,
        "availability": AVAILABILITY,
        "may_write": policy.can_write_for_party(principal, principal.party)},
        status=422 if errors else 200)


@router.get("/directory/stale")
def directory_stale(request: Request, session: DbSession, runtime: RuntimeDep,
                    principal: PagePrincipal) -> Response:
    """The confirmation page: the caller's party's contacts due for confirmation."""
    return render(request, "directory/stale.html", {
        "items": service.stale_contacts(session, runtime, principal), "areas": AREA_LABELS})


def _document(form: FormData) -> dict[str, Any]:
    doc: dict[str, Any] = {name: field(form, name) or None for name in TEXT_FIELDS}
    doc["languages"] = [v.strip().lower() for v in (doc["languages"] or "").replace(",", " ").split()]
    doc["areas"] = [str(v) for v in form.getlist("areas")]
    return {k: v for k, v in doc.items() if v is not None}


def _where(loc: Sequence[Any]) -> str:
    return str(loc[0]) if loc else "_form"


def _form_page(request: Request, session: DbSession, runtime: RuntimeDep, principal: PagePrincipal,
               values: dict[str, Any], errors: dict[str, str], action: str,
               status: int = 200) -> Response:
    deputies = [c for c in service.list_contacts(session, runtime, principal, party=principal.party)
                if c.id != values.get("id")]
    return render(request, "directory/form.html", {
        "values": values, "errors": errors, "action": action, "areas": AREA_LABELS,
        "availability": AVAILABILITY, "deputies": deputies}, status=status)


def _require_writer(principal: PagePrincipal) -> None:
    if not policy.can_write_for_party(principal, principal.party):
        raise Forbidden("only focal points maintain their party's directory")


def _values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {name: field(form, name) for name in TEXT_FIELDS}
    values["areas"] = [str(v) for v in form.getlist("areas")]
    return values


def _save(request: Request, session: DbSession, runtime: RuntimeDep, principal: PagePrincipal,
          form: Form, action: str, contact_id: str | None) -> Response:
    _ = gettext_for(request)
    values = _values(form)
    try:
        doc = ContactDocument.model_validate(_document(form))
    except ValidationError as exc:
        return _form_page(request, session, runtime, principal, values, errors_of(exc, _where, _),
                          action, status=422)

    def failed(exc: AppError) -> Response | None:
        if isinstance(exc, InvalidInput):
            return _form_page(request, session, runtime, principal, values,
                              service_errors(exc.errors, _where, _), action, status=422)
        return None

    request.state.on_error = failed
    if contact_id is None:
        saved = service.create_contact(session, runtime, principal, doc)
    else:
        saved = service.update_contact(session, runtime, principal, contact_id, doc)
    return RedirectResponse(f"/directory?party={saved.party}", status_code=303)


@router.get("/directory/new")
def directory_new(request: Request, session: DbSession, runtime: RuntimeDep,
                  principal: PagePrincipal) -> Response:
    _require_writer(principal)
    return _form_page(request, session, runtime, principal,
                      {"availability": "office_hours", "areas": []}, {}, "/directory/new")


@router.post("/directory/new", dependencies=[CsrfChecked])
def directory_create(request: Request, session: DbSession, runtime: RuntimeDep,
                     principal: PagePrincipal, form: Form) -> Response:
    _require_writer(principal)
    return _save(request, session, runtime, principal, form, "/directory/new", None)


@router.get("/directory/{contact_id}/edit")
def directory_edit(request: Request, contact_id: str, session: DbSession, runtime: RuntimeDep,
                   principal: PagePrincipal) -> Response:
    contact = service.get_contact(session, runtime, principal, contact_id, for_writing=True)
    values: dict[str, Any] = contact.model_dump()
    values["languages"] = ", ".join(contact.languages)
    return _form_page(request, session, runtime, principal, values, {},
                      f"/directory/{contact.id}/edit")


@router.post("/directory/{contact_id}/edit", dependencies=[CsrfChecked])
def directory_update(request: Request, contact_id: str, session: DbSession, runtime: RuntimeDep,
                     principal: PagePrincipal, form: Form) -> Response:
    return _save(request, session, runtime, principal, form, f"/directory/{contact_id}/edit",
                 contact_id)


@router.post("/directory/{contact_id}/confirm", dependencies=[CsrfChecked])
def directory_confirm(request: Request, contact_id: str, session: DbSession, runtime: RuntimeDep,
                      principal: PagePrincipal) -> Response:
    service.confirm_contact(session, runtime, principal, contact_id)
    return RedirectResponse("/directory/stale", status_code=303)


@router.post("/directory/{contact_id}/retire", dependencies=[CsrfChecked])
def directory_retire(request: Request, contact_id: str, session: DbSession, runtime: RuntimeDep,
                     principal: PagePrincipal) -> Response:
    service.retire_contact(session, runtime, principal, contact_id)
    return RedirectResponse(f"/directory?party={principal.party}", status_code=303)
