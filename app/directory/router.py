"""HTTP for the focal-point directory: parse, call the service, render."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from app.api import CurrentPrincipal, DbSession, RuntimeDep
from app.directory import service
from app.directory.schemas import Area, ContactDocument, ContactList, ContactRead
from app.legislation.schemas import Language
from app.openapi import UUID_STR
from app.ratelimit import per_ip, per_user

router = APIRouter(prefix="/directory", tags=["directory"])
ContactPath = Annotated[str, Path(pattern=f"^{UUID_STR}$")]
WRITE_LIMITS = [Depends(per_ip("write", "ip_rate_per_minute")),
                Depends(per_user("write", "write_rate_per_minute"))]


@router.get("", response_model=ContactList, response_model_exclude_none=True)
def list_contacts(session: DbSession, runtime: RuntimeDep, principal: CurrentPrincipal,
                  party: Annotated[str | None, Query(pattern=r"^[A-Z][A-Z0-9]{1,7}$")] = None,
                  area: Area | None = None,
                  language: Annotated[Language | None, Query()] = None) -> ContactList:
    """Active contacts by party, area and language (every read is audited)."""
    return ContactList(items=service.list_contacts(session, runtime, principal, party=party, area=area,
                                                   language=language))


@router.get("/stale", response_model=ContactList, response_model_exclude_none=True)
def stale_contacts(session: DbSession, runtime: RuntimeDep,
                   principal: CurrentPrincipal) -> ContactList:
    """The caller's party's contacts due for confirmation (focal points)."""
    return ContactList(items=service.stale_contacts(session, runtime, principal))


@router.post("", status_code=201, response_model=ContactRead, response_model_exclude_none=True,
             dependencies=WRITE_LIMITS)
def post_contact(doc: ContactDocument, session: DbSession, runtime: RuntimeDep,
                 principal: CurrentPrincipal) -> ContactRead:
    """Add a contact of the caller's own party."""
    return service.create_contact(session, runtime, principal, doc)


@router.put("/{contact_id:uuid_str}", response_model=ContactRead, response_model_exclude_none=True,
            dependencies=WRITE_LIMITS)
def put_contact(contact_id: ContactPath, doc: ContactDocument, session: DbSession, runtime: RuntimeDep,
                principal: CurrentPrincipal) -> ContactRead:
    """Append a revision of a contact (its party's focal points); this also confirms it."""
    return service.update_contact(session, runtime, principal, contact_id, doc)


@router.delete("/{contact_id:uuid_str}", status_code=204, dependencies=WRITE_LIMITS)
def delete_contact(contact_id: ContactPath, session: DbSession, runtime: RuntimeDep,
                   principal: CurrentPrincipal) -> Response:
    """Retire a contact (its revisions are kept)."""
    service.retire_contact(session, runtime, principal, contact_id)
    return Response(status_code=204)


@router.post("/{contact_id:uuid_str}/confirm", response_model=ContactRead, response_model_exclude_none=True,
             dependencies=WRITE_LIMITS)
def confirm_contact(contact_id: ContactPath, session: DbSession, runtime: RuntimeDep,
                    principal: CurrentPrincipal) -> ContactRead:
    """The contact is still right: restart its confirmation clock."""
    return service.confirm_contact(session, runtime, principal, contact_id)
