"""Request pages: inbox and outbox with status and deadline badges, the new-request form, one request
with its thread, the transition buttons the caller's side may use (obstacles picker), and conversion.
Every read and write goes through app/requests/service.py: visibility, status machine, audit and
validation are the API's own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from app import policy
from app.api import DbSession, RuntimeDep
from app.errors import AppError, InvalidInput
from app.parties.service import list_parties
from app.reference.service import list_paragraphs
from app.requests import service
from app.requests.machine import NEEDS_OBSTACLES
from app.requests.schemas import (
    ConvertCreate,
    MessageCreate,
    RequestCreate,
    Status,
    TransitionCreate,
)
from app.web.deps import CsrfChecked, Form, PagePrincipal, portal_router
from app.web.forms import errors_of, service_errors
from app.web.render import N_, NavItem, gettext_for, render

router = portal_router()
NAV = [NavItem("/requests", N_("Requests"), order=30, when=policy.sees_content),
       NavItem("/requests/new", N_("New request"), order=31, when=policy.can_create_request)]

PAGE_SIZE = 20
STATUSES = {
    "sent": N_("Sent"), "acknowledged": N_("Acknowledged"), "in_progress": N_("In progress"),
    "executed": N_("Executed"), "partially_executed": N_("Partially executed"),
    "refused": N_("Refused"), "withdrawn": N_("Withdrawn"),
}
# The button that moves a request to each status.
MOVES = {
    "acknowledged": N_("Acknowledge"), "in_progress": N_("Start executing"),
    "executed": N_("Mark executed"), "partially_executed": N_("Mark partially executed"),
    "refused": N_("Refuse"), "withdrawn": N_("Withdraw"),
}
TYPES = {"formal": N_("Formal request"), "consultation": N_("Consultation")}
PRIORITIES = {"urgent": N_("Urgent"), "standard": N_("Standard")}
MEASURES = {
    "identification": N_("Identification"), "tracing": N_("Tracing"), "freezing": N_("Freezing"),
    "seizure": N_("Seizure"), "confiscation": N_("Confiscation"), "information": N_("Information"),
    "consultation": N_("Consultation"),
}
TLPS = ("CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED")
SUBJECT_ROWS = 2


def _flag(value: str | None) -> bool | None:
    return {"true": True, "false": False}.get(value or "")


@router.get("/requests")
def request_list(request: Request, session: DbSession, runtime: RuntimeDep,
                 principal: PagePrincipal) -> Response:
    """The inbox (addressed to the caller's party) or outbox, soonest due first."""
    query = request.query_params
    box = "outbox" if query.get("box") == "outbox" else "inbox"
    status = query.get("status") if query.get("status") in STATUSES else None
    overdue = _flag(query.get("overdue"))
    cursor = query.get("cursor") or None
    items, next_cursor = service.list_requests(
        session, runtime, principal, box=box, status=Status(status) if status else None,
        overdue=overdue, limit=PAGE_SIZE, cursor=cursor[:512] if cursor else None)
    kept = {k: v for k, v in {"box": box, "status": status or "",
                              "overdue": query.get("overdue", "")}.items() if v}
    return render(request, "requests/list.html", {
        "items": items, "box": box, "status": status or "", "overdue": query.get("overdue", ""),
        "next_cursor": next_cursor, "first_page": bool(cursor), "kept": kept,
        "statuses": STATUSES, "types": TYPES, "priorities": PRIORITIES})


# -- the new-request form -------------------------------------------------------------------------------
def _document(form: FormData) -> dict[str, Any]:
    """The API's request document from the form's strings (validation is the schema's)."""
    subjects = []
    for i in range(SUBJECT_ROWS):
        name = str(form.get(f"subjects-{i}-name", "")).strip()
        if not name:
            continue
        subject: dict[str, Any] = {"name": name}
        for key in ("birth_date", "nationality"):
            value = str(form.get(f"subjects-{i}-{key}", "")).strip()
            if value:
                subject[key] = value
        subjects.append(subject)
    doc: dict[str, Any] = {
        "addressee": str(form.get("addressee", "")), "type": str(form.get("type", "")),
        "measures": [str(m) for m in form.getlist("measures")],
        "legal_basis": [line.strip() for line in str(form.get("legal_basis", "")).splitlines()
                        if line.strip()],
        "priority": str(form.get("priority", "")), "title": str(form.get("title", "")),
        "body": str(form.get("body", "")), "tlp": str(form.get("tlp", "")),
        "paris_paragraphs": [str(p) for p in form.getlist("paris_paragraphs")], "subjects": subjects,
    }
    if str(form.get("due_date", "")).strip():
        doc["due_date"] = str(form.get("due_date")).strip()
    return doc


def _where(loc: Sequence[Any]) -> str:
    if not loc:
        return "form"
    if loc[0] == "subjects" and len(loc) >= 3:
        return f"subjects-{loc[1]}-{loc[2]}"
    return str(loc[0])


def _form_page(request: Request, session: DbSession, values: dict[str, Any],
               errors: dict[str, str], status: int = 200) -> Response:
    return render(request, "requests/form.html", {
        "values": values, "errors": errors, "types": TYPES, "priorities": PRIORITIES,
        "measures": MEASURES, "tlps": TLPS, "subject_rows": SUBJECT_ROWS,
        "parties": list_parties(session), "paragraphs": list_paragraphs(session)}, status=status)


def _form_values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    values["measures"] = [str(m) for m in form.getlist("measures")]
    values["paris_paragraphs"] = [str(p) for p in form.getlist("paris_paragraphs")]
    return values


@router.get("/requests/new")
def new_request(request: Request, session: DbSession, principal: PagePrincipal) -> Response:
    return _form_page(request, session, {"type": "formal", "priority": "standard", "tlp": "AMBER",
                                         "measures": [], "paris_paragraphs": []}, {})


@router.post("/requests/new", dependencies=[CsrfChecked])
def post_request(request: Request, session: DbSession, runtime: RuntimeDep,
                 principal: PagePrincipal, form: Form) -> Response:
    _ = gettext_for(request)
    values = _form_values(form)
    try:
        doc = RequestCreate.model_validate(_document(form))
    except ValidationError as exc:
        return _form_page(request, session, values, errors_of(exc, _where, _), status=422)

    def failed(exc: AppError) -> Response | None:
        if isinstance(exc, InvalidInput):
            return _form_page(request, session, values, service_errors(exc.errors, _where, _),
                              status=422)
        return None

    request.state.on_error = failed
    created = service.create_request(session, runtime, principal, doc)
    return RedirectResponse(f"/requests/{created.id}", status_code=303)


# -- one request ----------------------------------------------------------------------------------------
def _view(request: Request, session: DbSession, runtime: RuntimeDep, principal: PagePrincipal,
          request_id: str, *, errors: dict[str, str] | None = None, status: int = 200,
          values: dict[str, Any] | None = None) -> Response:
    item = service.get_request(session, runtime, principal, request_id)
    thread = service.list_messages(session, runtime, principal, item.id)
    return render(request, "requests/view.html", {
        "item": item, "thread": thread, "errors": errors or {}, "values": values or {},
        "statuses": STATUSES, "moves": MOVES, "types": TYPES, "priorities": PRIORITIES,
        "measures": MEASURES, "obstacles": service.list_obstacles(session),
        "needs_obstacles": {str(s) for s in NEEDS_OBSTACLES},
        "can_convert": item.type == "consultation" and item.requester == principal.party
        and "withdrawn" in item.allowed_transitions}, status=status)


@router.post("/requests/{request_id}/messages", dependencies=[CsrfChecked])
def post_message(request: Request, request_id: str, session: DbSession, runtime: RuntimeDep,
                 principal: PagePrincipal, form: Form) -> Response:
    _ = gettext_for(request)
    try:
        doc = MessageCreate.model_validate({"body": str(form.get("body", ""))})
    except ValidationError as exc:
        return _view(request, session, runtime, principal, request_id,
                     errors=errors_of(exc, lambda loc: "body", _), status=422)
    service.post_message(session, runtime, principal, request_id, doc)
    return RedirectResponse(f"/requests/{request_id}#thread", status_code=303)


@router.post("/requests/{request_id}/transitions", dependencies=[CsrfChecked])
def post_transition(request: Request, request_id: str, session: DbSession, runtime: RuntimeDep,
                    principal: PagePrincipal, form: Form) -> Response:
    _ = gettext_for(request)
    values: dict[str, Any] = {"note": str(form.get("note", "")),
                              "obstacles": [str(o) for o in form.getlist("obstacles")]}
    raw: dict[str, Any] = {"status": str(form.get("status", "")), "obstacles": values["obstacles"]}
    if values["note"].strip():
        raw["note"] = values["note"]
    try:
        doc = TransitionCreate.model_validate(raw)
    except ValidationError as exc:
        return _view(request, session, runtime, principal, request_id,
                     errors=errors_of(exc, lambda loc: str(loc[0]) if loc else "status", _),
                     status=422, values=values)

    def failed(exc: AppError) -> Response | None:
        if isinstance(exc, InvalidInput):
            return _view(request, session, runtime, principal, request_id,
                         errors=service_errors(exc.errors, lambda loc: str(loc[0]), _)
                         or {"obstacles": _("Choose at least one obstacle.")},
                         status=422, values=values)
        return None

    request.state.on_error = failed
    service.transition_request(session, runtime, principal, request_id, doc)
    return RedirectResponse(f"/requests/{request_id}", status_code=303)


@router.post("/requests/{request_id}/convert", dependencies=[CsrfChecked])
def post_convert(request: Request, request_id: str, session: DbSession, runtime: RuntimeDep,
                 principal: PagePrincipal) -> Response:
    service.convert_to_formal(session, runtime, principal, request_id, ConvertCreate())
    return RedirectResponse(f"/requests/{request_id}", status_code=303)


@router.get("/requests/{request_id}")
def request_view(request: Request, request_id: str, session: DbSession, runtime: RuntimeDep,
                 principal: PagePrincipal) -> Response:
    return _view(request, session, runtime, principal, request_id)
