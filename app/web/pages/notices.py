"""Notice pages: list (the API's filters, pages), one notice (subjects, assets, TLP banner, history,
access log), and the post and revise forms. Every read and write goes through app/notices/service.py,
so visibility, audit and validation are the API's own."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from app import policy
from app.api import DbSession, RuntimeDep
from app.auth.principal import Principal
from app.errors import AppError, Conflict, Forbidden, InvalidInput
from app.notices import service
from app.notices.schemas import AssetStatus, NoticeDocument, NoticeRead
from app.parties.service import list_parties
from app.reference.service import list_paragraphs
from app.web.deps import CsrfChecked, Form, PagePrincipal, portal_router
from app.web.deps import field as text_field
from app.web.forms import errors_of, service_errors
from app.web.render import N_, NavItem, gettext_for, render

router = portal_router()
NAV = [NavItem("/notices", N_("Notices"), order=10, when=policy.sees_content),
       NavItem("/notices/new", N_("Post a notice"), order=20, when=policy.can_post_notice)]

PAGE_SIZE = 20
KINDS = {"financial_investigation": N_("Financial investigation"), "frozen_asset": N_("Frozen asset")}
TLPS = ("CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED")
STATUSES = {
    "identified": N_("Identified"), "traced": N_("Traced"), "frozen": N_("Frozen"),
    "seized": N_("Seized"), "confiscated": N_("Confiscated"), "released": N_("Released"),
    "returned": N_("Returned"),
}
ASSET_TYPES = {
    "bank_account": N_("Bank account"), "real_estate": N_("Real estate"), "vehicle": N_("Vehicle"),
    "vessel": N_("Vessel"), "aircraft": N_("Aircraft"), "securities": N_("Securities"),
    "company_shares": N_("Company shares"), "cash": N_("Cash"), "crypto_assets": N_("Crypto-assets"),
    "precious_goods": N_("Precious goods"), "other": N_("Other"),
}
SCHEMES = {
    "passport": N_("Passport"), "national_id": N_("National identity number"),
    "tax_id": N_("Tax number"), "lei": N_("LEI"), "company_number": N_("Company number"),
    "other": N_("Other"),
}
FIELDS = {  # labels of the document's fields, for forms and for "what changed"
    "kind": N_("Kind"), "title": N_("Title"), "tlp": N_("TLP"), "recipients": N_("Recipients"),
    "paris_paragraphs": N_("Paris Declaration paragraphs"), "reference": N_("National reference"),
    "subjects": N_("Subjects"), "assets": N_("Assets"), "narrative": N_("Narrative"),
}
ACTIONS = {
    "notice.create": N_("posted"), "notice.read": N_("read"), "notice.list": N_("listed"),
    "notice.revisions": N_("read the history"), "notice.revise": N_("revised"),
    "search.hit": N_("found it by a search"), "notice.access_log": N_("read the access log"),
    "notice.export": N_("exported"),
}
OUTCOMES = {"ok": N_("done"), "denied": N_("refused"), "failed": N_("failed")}
SUBJECT_FIELDS = ("name", "aliases", "birth_date", "nationality")
ASSET_FIELDS = ("type", "description", "jurisdiction", "identifier", "amount", "currency", "status",
                "status_date", "order_reference")
IDENTIFIER_ROWS = 2
MAX_ROWS = 50


# -- the list -------------------------------------------------------------------------------------------
@router.get("/notices")
def notice_list(request: Request, session: DbSession, runtime: RuntimeDep,
                principal: PagePrincipal) -> Response:
    """Visible notices with the API's filters (kind, paragraph, author party, since), in pages."""
    _ = gettext_for(request)
    query = request.query_params
    filters = {name: query.get(name, "").strip() for name in
               ("kind", "paris_paragraph", "author_party", "since")}
    errors: dict[str, str] = {}
    since = None
    if filters["kind"] and filters["kind"] not in KINDS:
        errors["kind"] = _("Choose one of the options.")
    if filters["author_party"] and not re.fullmatch(r"[A-Z][A-Z0-9]{1,7}", filters["author_party"]):
        errors["author_party"] = _("Choose one of the options.")
    if filters["since"]:
        try:
            since = datetime.combine(date.fromisoformat(filters["since"]), datetime.min.time(), UTC)
        except ValueError:
            errors["since"] = _("Enter a date as YYYY-MM-DD.")
    items: list[NoticeRead] = []
    next_cursor = None
    cursor = query.get("cursor") or None
    if not errors:
        items, next_cursor = service.list_notices(
            session, runtime, principal, kind=filters["kind"] or None,
            paris_paragraph=filters["paris_paragraph"][:16] or None,
            author_party=filters["author_party"] or None, since=since, limit=PAGE_SIZE,
            cursor=cursor[:512] if cursor else None)
    kept = {k: v for k, v in filters.items() if v}
    return render(request, "notices/list.html", {
        "items": items, "filters": filters, "errors": errors, "next_cursor": next_cursor,
        "first_page": bool(cursor), "kept": kept, "kinds": KINDS, "statuses": STATUSES,
        "parties": list_parties(session), "paragraphs": list_paragraphs(session)},
        status=422 if errors else 200)


# -- one notice -----------------------------------------------------------------------------------------
def _changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[dict[str, Any]]:
    """What a revision changed, field by field (names added and removed for subjects)."""
    if before is None:
        return []
    changes: list[dict[str, Any]] = []
    for name in FIELDS:
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        change: dict[str, Any] = {"field": name, "added": [], "removed": []}
        if name == "subjects":
            old_names = [s["name"] for s in old or []]
            new_names = [s["name"] for s in new or []]
            change["added"] = [n for n in new_names if n not in old_names]
            change["removed"] = [n for n in old_names if n not in new_names]
        elif name in ("recipients", "paris_paragraphs"):
            change["added"] = [v for v in new or [] if v not in (old or [])]
            change["removed"] = [v for v in old or [] if v not in (new or [])]
        elif name in ("title", "tlp", "kind"):
            change["before"], change["after"] = old, new
        changes.append(change)
    return changes


def notice_view(request: Request, notice_id: str, session: DbSession, runtime: RuntimeDep,
                principal: PagePrincipal) -> Response:
    notice = service.get_notice(session, runtime, principal, notice_id)
    revisions = service.list_revisions(session, runtime, principal, notice.id)
    history = []
    previous: dict[str, Any] | None = None
    for revision in revisions:
        document = revision.model_dump(mode="json")
        history.append({"revision": revision.revision, "at": revision.updated_at,
                        "changes": _changes(previous, document)})
        previous = document
    access_log = None
    if policy.can_read_access_log(principal, notice.author_party):
        access_log, _next = service.notice_access_log(session, principal, notice.id)
    paragraphs = {p.number: p for p in list_paragraphs(session)}
    return render(request, "notices/view.html", {
        "notice": notice, "history": list(reversed(history)), "access_log": access_log,
        "paragraphs": paragraphs, "can_revise": policy.can_revise_notice(principal,
                                                                         notice.author_party),
        "kinds": KINDS, "statuses": STATUSES, "asset_types": ASSET_TYPES, "schemes": SCHEMES,
        "fields": FIELDS, "actions": ACTIONS, "outcomes": OUTCOMES,
        "saved": request.query_params.get("saved") == "1"})


# -- the form -------------------------------------------------------------------------------------------
@dataclass
class NoticeForm:
    """A notice form as the browser sent it (all strings), to validate or to show again."""

    values: dict[str, str] = field(default_factory=dict)
    recipients: list[str] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    subject_rows: int = 1
    asset_rows: int = 1
    identifier_rows: dict[int, int] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    def identifiers_of(self, row: int) -> int:
        return self.identifier_rows.get(row, IDENTIFIER_ROWS)

    @classmethod
    def blank(cls) -> NoticeForm:
        return cls(values={"kind": "frozen_asset", "tlp": "AMBER"})

    @classmethod
    def of(cls, notice: NoticeRead) -> NoticeForm:
        """The form pre-filled with a stored notice (for revising it)."""
        values = {"kind": notice.kind, "title": notice.title, "tlp": notice.tlp,
                  "reference": notice.reference or "", "narrative": notice.narrative or "",
                  "revision": str(notice.revision)}
        ids: dict[int, int] = {}
        for i, subject in enumerate(notice.subjects):
            values.update({f"subjects-{i}-name": subject.name,
                           f"subjects-{i}-aliases": "; ".join(subject.aliases),
                           f"subjects-{i}-birth_date": subject.birth_date.isoformat()
                           if subject.birth_date else "",
                           f"subjects-{i}-nationality": subject.nationality or ""})
            for j, identifier in enumerate(subject.identifiers):
                values[f"subjects-{i}-identifiers-{j}-scheme"] = identifier.scheme
                values[f"subjects-{i}-identifiers-{j}-value"] = identifier.value
            ids[i] = max(IDENTIFIER_ROWS, len(subject.identifiers) + 1)
        for i, asset in enumerate(notice.assets):
            values.update({f"assets-{i}-type": asset.type,
                           f"assets-{i}-description": asset.description or "",
                           f"assets-{i}-jurisdiction": asset.jurisdiction or "",
                           f"assets-{i}-identifier": asset.identifier or "",
                           f"assets-{i}-amount": str(asset.value.amount) if asset.value else "",
                           f"assets-{i}-currency": asset.value.currency if asset.value else "",
                           f"assets-{i}-status": asset.status.value,
                           f"assets-{i}-status_date": asset.status_date.isoformat()
                           if asset.status_date else "",
                           f"assets-{i}-order_reference": asset.order_reference or ""})
        return cls(values=values, recipients=list(notice.recipients),
                   paragraphs=list(notice.paris_paragraphs),
                   subject_rows=max(1, len(notice.subjects)), asset_rows=max(1, len(notice.assets)),
                   identifier_rows=ids)

    @classmethod
    def read(cls, form: FormData) -> NoticeForm:
        def rows(name: str) -> int:
            raw = form.get(name)
            return min(MAX_ROWS, max(1, int(raw))) if isinstance(raw, str) and raw.isdigit() else 1

        values = {k: v for k, v in form.multi_items() if isinstance(v, str)
                  and k not in ("recipients", "paris_paragraphs", "csrf_token")}
        ids = {}
        subjects = rows("subject_rows")
        for i in range(subjects):
            raw = values.get(f"subjects-{i}-identifier_rows", "")
            ids[i] = min(MAX_ROWS, max(1, int(raw))) if raw.isdigit() else IDENTIFIER_ROWS
        return cls(values=values,
                   recipients=[v for v in form.getlist("recipients") if isinstance(v, str)],
                   paragraphs=[v for v in form.getlist("paris_paragraphs") if isinstance(v, str)],
                   subject_rows=subjects, asset_rows=rows("asset_rows"), identifier_rows=ids)

    def document(self) -> tuple[dict[str, Any], list[int], list[int], dict[int, list[int]]]:
        """The notice document the API would receive, and which form row each list item came from."""
        get = self.get
        subjects: list[dict[str, Any]] = []
        subject_rows: list[int] = []
        identifier_rows: dict[int, list[int]] = {}
        for i in range(self.subject_rows):
            if not any(get(f"subjects-{i}-{f}").strip() for f in SUBJECT_FIELDS):
                continue
            identifiers, rows = [], []
            for j in range(self.identifiers_of(i)):
                scheme = get(f"subjects-{i}-identifiers-{j}-scheme").strip()
                value = get(f"subjects-{i}-identifiers-{j}-value").strip()
                if value:
                    identifiers.append({"scheme": scheme, "value": value})
                    rows.append(j)
            subject: dict[str, Any] = {
                "name": get(f"subjects-{i}-name"),
                "aliases": [a.strip() for a in get(f"subjects-{i}-aliases").split(";") if a.strip()],
                "identifiers": identifiers}
            for name in ("birth_date", "nationality"):
                value = get(f"subjects-{i}-{name}").strip()
                if value:
                    subject[name] = value.upper() if name == "nationality" else value
            identifier_rows[len(subjects)] = rows
            subjects.append(subject)
            subject_rows.append(i)
        assets: list[dict[str, Any]] = []
        asset_rows: list[int] = []
        for i in range(self.asset_rows):
            if not any(get(f"assets-{i}-{f}").strip() for f in ASSET_FIELDS if f != "status"):
                continue
            asset: dict[str, Any] = {"type": get(f"assets-{i}-type"),
                                     "status": get(f"assets-{i}-status")}
            for name in ("description", "identifier", "status_date", "order_reference",
                         "jurisdiction"):
                value = get(f"assets-{i}-{name}").strip()
                if value:
                    asset[name] = value.upper() if name == "jurisdiction" else value
            amount, currency = get(f"assets-{i}-amount").strip(), get(f"assets-{i}-currency").strip()
            if amount or currency:
                asset["value"] = {"amount": amount.replace(" ", "").replace(",", "."),
                                  "currency": currency.upper()}
            assets.append(asset)
            asset_rows.append(i)
        doc: dict[str, Any] = {"kind": get("kind"), "title": get("title"), "tlp": get("tlp"),
                               "recipients": self.recipients, "paris_paragraphs": self.paragraphs,
                               "subjects": subjects, "assets": assets}
        for name in ("reference", "narrative"):
            if get(name).strip():
                doc[name] = get(name)
        return doc, subject_rows, asset_rows, identifier_rows


def _locator(subject_rows: list[int], asset_rows: list[int],
             identifier_rows: dict[int, list[int]]) -> Any:
    """Maps an error location in the document to the form field that holds the value."""

    def where(loc: Sequence[Any]) -> str:
        loc = [int(p) if isinstance(p, str) and p.isdigit() else p for p in loc]
        if not loc:
            return "_form"
        head = loc[0]
        if head in ("recipients", "paris_paragraphs", "kind", "title", "tlp", "reference",
                    "narrative"):
            return str(head)
        if head == "subjects" and len(loc) > 1 and isinstance(loc[1], int) \
                and loc[1] < len(subject_rows):
            row = subject_rows[loc[1]]
            if len(loc) > 3 and loc[2] == "identifiers" and isinstance(loc[3], int):
                j = identifier_rows.get(loc[1], [])[loc[3]] if loc[3] < len(
                    identifier_rows.get(loc[1], [])) else 0
                part = loc[4] if len(loc) > 4 and loc[4] in ("scheme", "value") else "value"
                return f"subjects-{row}-identifiers-{j}-{part}"
            part = loc[2] if len(loc) > 2 and loc[2] in SUBJECT_FIELDS else "name"
            return f"subjects-{row}-{part}"
        if head == "assets" and len(loc) > 1 and isinstance(loc[1], int) \
                and loc[1] < len(asset_rows):
            row = asset_rows[loc[1]]
            if len(loc) > 2 and loc[2] == "value":
                return f"assets-{row}-{'currency' if loc[3:4] == ['currency'] else 'amount'}"
            part = loc[2] if len(loc) > 2 and loc[2] in ASSET_FIELDS else "identifier"
            return f"assets-{row}-{part}"
        return "_form"

    return where


def _form_page(request: Request, session: DbSession, form: NoticeForm, *,
               notice: NoticeRead | None = None, errors: dict[str, str] | None = None,
               conflict: int | None = None, status: int = 200) -> Response:
    return render(request, "notices/form.html", {
        "form": form, "notice": notice, "errors": errors or {}, "conflict": conflict,
        "parties": list_parties(session), "paragraphs": list_paragraphs(session),
        "kinds": KINDS, "tlps": TLPS, "statuses": STATUSES, "asset_types": ASSET_TYPES,
        "schemes": SCHEMES, "fields": FIELDS, "status_values": [s.value for s in AssetStatus]},
        status=status)


def _submitted(request: Request, session: DbSession, runtime: RuntimeDep, principal: Principal,
               form_data: FormData, notice: NoticeRead | None) -> Response:
    """Validate with the API's schema, then post or revise through the service; show errors in place."""
    _ = gettext_for(request)
    form = NoticeForm.read(form_data)
    action = text_field(form_data, "action")
    if action in ("add_subject", "add_asset") or action.startswith("add_identifier-"):
        # "Add a row" without JavaScript: the same form again with one more blank row.
        if action == "add_subject":
            form.subject_rows = min(MAX_ROWS, form.subject_rows + 1)
        elif action == "add_asset":
            form.asset_rows = min(MAX_ROWS, form.asset_rows + 1)
        else:
            row = action.removeprefix("add_identifier-")
            if row.isdigit() and int(row) < form.subject_rows:
                form.identifier_rows[int(row)] = min(MAX_ROWS, form.identifiers_of(int(row)) + 1)
        return _form_page(request, session, form, notice=notice)
    raw, subject_rows, asset_rows, identifier_rows = form.document()
    where = _locator(subject_rows, asset_rows, identifier_rows)
    try:
        document = NoticeDocument.model_validate(raw)
    except ValidationError as exc:
        return _form_page(request, session, form, notice=notice, status=422,
                          errors=errors_of(exc, where, _))

    def failed(exc: AppError) -> Response | None:
        if isinstance(exc, InvalidInput):
            return _form_page(request, session, form, notice=notice, status=422,
                              errors=service_errors(exc.errors, where, _))
        if isinstance(exc, Conflict) and notice is not None:
            current = service.get_notice(session, runtime, principal, notice.id)
            # Submitting again overwrites knowingly: the form now builds on the current revision.
            form.values["revision"] = str(current.revision)
            return _form_page(request, session, form, notice=current, conflict=current.revision,
                              status=409)
        return None

    request.state.on_error = failed
    if notice is None:
        stored = service.create_notice(session, runtime, principal, document)
    else:
        base = form.get("revision")
        stored = service.revise_notice(session, runtime, principal, notice.id, document,
                                       expected_revision=int(base) if base.isdigit() else None)
    return RedirectResponse(f"/notices/{stored.id}?saved=1", status_code=303)


@router.get("/notices/new")
def new_notice(request: Request, session: DbSession, principal: PagePrincipal) -> Response:
    if not policy.can_post_notice(principal):
        raise Forbidden("this role may not post notices")
    return _form_page(request, session, NoticeForm.blank())


@router.post("/notices/new", dependencies=[CsrfChecked])
def post_notice(request: Request, session: DbSession, runtime: RuntimeDep,
                principal: PagePrincipal, form: Form) -> Response:
    return _submitted(request, session, runtime, principal, form, None)


@router.get("/notices/{notice_id}/edit")
def edit_notice(request: Request, notice_id: str, session: DbSession, runtime: RuntimeDep,
                principal: PagePrincipal) -> Response:
    notice = service.get_notice(session, runtime, principal, notice_id)
    if not policy.can_revise_notice(principal, notice.author_party):
        raise Forbidden("only the author party may revise a notice")
    return _form_page(request, session, NoticeForm.of(notice), notice=notice)


@router.post("/notices/{notice_id}/edit", dependencies=[CsrfChecked])
def revise_notice(request: Request, notice_id: str, session: DbSession, runtime: RuntimeDep,
                  principal: PagePrincipal, form: Form) -> Response:
    notice = service.get_notice(session, runtime, principal, notice_id)
    return _submitted(request, session, runtime, principal, form, notice)


# After /notices/new, which the {notice_id} pattern would otherwise catch.
router.get("/notices/{notice_id}")(notice_view)
