"""Hit/no-hit enquiries: the enquiry form and its answers (/enquiries), and the owner's hits with share
and decline (/hits), through app/enquiries/service.py (the API's use cases, same audit and rules).

Enquiries are POSTed, never sent as a query string, so no name or identifier lands in a URL or a log."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from app import policy
from app.api import DbSession, RuntimeDep
from app.enquiries import service
from app.enquiries.router import limit_enquiries
from app.enquiries.schemas import EnquiryCreate
from app.errors import AppError, Forbidden, InvalidInput
from app.web.deps import CsrfChecked, Form, PagePrincipal, field, portal_router
from app.web.forms import errors_of, service_errors
from app.web.render import N_, NavItem, gettext_for, render

router = portal_router()
NAV = [NavItem("/enquiries", N_("Enquiries"), order=35, when=policy.can_enquire),
       NavItem("/hits", N_("Hits on our notices"), order=36, when=policy.can_enquire)]
FIELDS = ("name", "birth_date", "nationality", "scheme", "identifier", "purpose", "legal_basis")
SCHEMES = {"passport": N_("Passport"), "national_id": N_("National identity number"),
           "iban": N_("IBAN"), "bic": N_("BIC"), "lei": N_("LEI"), "isin": N_("ISIN"),
           "imo": N_("IMO number")}
STATUS = {"pending": N_("pending"), "shared": N_("shared"), "declined": N_("declined")}
MATCHED = {"identifier": N_("identifier"), "name": N_("name"), "birth_date": N_("date of birth")}


def _page(request: Request, session: DbSession, runtime: RuntimeDep, principal: PagePrincipal,
          values: dict[str, str], *, answer: Any = None, errors: dict[str, str] | None = None,
          status: int = 200) -> Response:
    sent = service.list_hits(session, runtime, principal, box="sent")
    return render(request, "enquiries/enquiries.html", {
        "values": values, "answer": answer, "errors": errors or {}, "sent": sent,
        "schemes": SCHEMES, "statuses": STATUS}, status=status)


@router.get("/enquiries")
def enquiry_form(request: Request, session: DbSession, runtime: RuntimeDep,
                 principal: PagePrincipal) -> Response:
    if not policy.can_enquire(principal):
        raise Forbidden("this role may not make enquiries")
    return _page(request, session, runtime, principal, {"scheme": "passport"})


def _where(loc: Any) -> str:
    loc = tuple(loc)
    if loc[:1] == ("subjects",):
        rest = [p for p in loc[2:] if isinstance(p, str)]
        if rest[:1] == ["identifiers"]:
            return "identifier"
        return rest[0] if rest and rest[0] in FIELDS else "name"
    return str(loc[0]) if loc and loc[0] in FIELDS else "name"


@router.post("/enquiries", dependencies=[CsrfChecked])
def post_enquiry(request: Request, session: DbSession, runtime: RuntimeDep,
                 principal: PagePrincipal, form: Form) -> Response:
    _ = gettext_for(request)
    values = {name: field(form, name) for name in FIELDS}
    subject: dict[str, Any] = {}
    if values["name"]:
        subject["name"] = values["name"]
    if values["birth_date"]:
        subject["birth_date"] = values["birth_date"]
    if values["nationality"]:
        subject["nationality"] = values["nationality"].upper()
    if values["identifier"]:
        subject["identifiers"] = [{"scheme": values["scheme"] or "passport",
                                   "value": values["identifier"]}]
    try:
        body = EnquiryCreate.model_validate({"subjects": [subject], "purpose": values["purpose"],
                                             "legal_basis": values["legal_basis"]})
    except ValidationError as exc:
        errors = errors_of(exc, _where, _)
        if not (values["name"] or values["identifier"]):
            errors = {"name": _("Give a name (with a date of birth) or an identifier.")}
        return _page(request, session, runtime, principal, values, errors=errors, status=422)

    def failed(exc: AppError) -> Response | None:
        if isinstance(exc, InvalidInput):
            return _page(request, session, runtime, principal, values,
                         errors=service_errors(exc.errors, _where, _), status=422)
        return None

    request.state.on_error = failed
    limit_enquiries(request, runtime, principal)
    answer = service.create_enquiry(session, runtime, principal, body)
    return _page(request, session, runtime, principal, {"scheme": values["scheme"]}, answer=answer)


@router.get("/hits")
def received_hits(request: Request, session: DbSession, runtime: RuntimeDep,
                  principal: PagePrincipal) -> Response:
    if not policy.can_enquire(principal):
        raise Forbidden("this role never sees hits")
    hits = service.list_hits(session, runtime, principal, box="received")
    return render(request, "enquiries/hits.html", {"hits": hits, "statuses": STATUS,
                                                   "matched": MATCHED})


@router.post("/hits/{hit_id}/share", dependencies=[CsrfChecked])
def share(hit_id: str, session: DbSession, runtime: RuntimeDep,
          principal: PagePrincipal) -> Response:
    service.share_hit(session, runtime, principal, hit_id)
    return RedirectResponse("/hits", status_code=303)


@router.post("/hits/{hit_id}/decline", dependencies=[CsrfChecked])
def decline(hit_id: str, session: DbSession, runtime: RuntimeDep, principal: PagePrincipal,
            form: Form) -> Response:
    service.decline_hit(session, runtime, principal, hit_id, field(form, "reason")[:2000] or None)
    return RedirectResponse("/hits", status_code=303)
