"""Directory use cases: list, add, update, retire, confirm, stale contacts. Sessions flush only.

Personal data (name, e-mail, phone, with function, unit and time zone) lives only in sealed revisions,
bound to (contact id, revision, party): a ciphertext moved to another contact or party does not open.
Every contact returned is audited as read; names and addresses never reach logs or problem documents.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from app import policy
from app.audit.record import Action, denied, record
from app.auth.principal import Principal
from app.db import advisory_lock
from app.directory.models import Contact, ContactRevision
from app.directory.schemas import ContactDocument, ContactRead
from app.errors import Forbidden, InvalidInput, NotFound
from app.parties.service import registered_codes_query
from app.runtime import Runtime

SEALED_FIELDS = ("name", "function", "unit", "email", "phone", "time_zone")


def contact_aad(contact_id: str, revision: int, party: str) -> bytes:
    return f"arx/contact|{contact_id}|{revision}|{party}".encode()


def _framed(values: Sequence[str]) -> str:
    return "," + ",".join(values) + ","


def _unframed(value: str) -> list[str]:
    return [v for v in value.split(",") if v]


def stale_before(runtime: Runtime) -> datetime:
    return runtime.clock() - timedelta(days=runtime.settings.directory_stale_days)


def _open(runtime: Runtime, contact: Contact, revision: ContactRevision,
          before: datetime) -> ContactRead:
    personal = json.loads(runtime.envelope.open(
        revision.sealed(), contact_aad(contact.id, revision.revision, contact.party)))
    return ContactRead(**personal, id=contact.id, party=contact.party,
                       areas=_unframed(contact.areas), languages=_unframed(contact.languages),
                       availability=contact.availability, deputy_of=contact.deputy_of,
                       confirmed_at=contact.confirmed_at, stale=contact.confirmed_at < before,
                       revision=contact.current_revision, updated_at=contact.updated_at)


def _with_revisions(session: Session, contacts: list[Contact]) -> dict[str, ContactRevision]:
    if not contacts:
        return {}
    rows = session.scalars(select(ContactRevision).where(or_(*(
        and_(ContactRevision.contact_id == c.id, ContactRevision.revision == c.current_revision)
        for c in contacts))))
    return {r.contact_id: r for r in rows}


def _read_all(session: Session, runtime: Runtime, principal: Principal,
              contacts: list[Contact]) -> list[ContactRead]:
    revisions = _with_revisions(session, contacts)
    before = stale_before(runtime)
    items = [_open(runtime, c, revisions[c.id], before) for c in contacts]
    for c in contacts:
        record(session, principal, Action.DIRECTORY_READ, object_id=c.id)
    if not contacts:
        record(session, principal, Action.DIRECTORY_READ)
    return items


def list_contacts(session: Session, runtime: Runtime, principal: Principal, *,
                  party: str | None = None, area: str | None = None,
                  language: str | None = None, stale: bool | None = None) -> list[ContactRead]:
    """Active contacts, by party then function order of creation; every one returned is audited."""
    policy.require(policy.can_read_reference(principal), principal, Action.DIRECTORY_READ,
                   detail="this role may not read the directory")
    query = select(Contact).where(Contact.retired_at.is_(None))
    if party:
        query = query.where(Contact.party == party)
    if area:
        query = query.where(Contact.areas.contains(f",{area},", autoescape=True))
    if language:
        query = query.where(Contact.languages.contains(f",{language},", autoescape=True))
    if stale is not None:
        before = stale_before(runtime)
        query = query.where(Contact.confirmed_at < before if stale else Contact.confirmed_at >= before)
    contacts = list(session.scalars(query.order_by(Contact.party, Contact.created_at, Contact.id)))
    return _read_all(session, runtime, principal, contacts)


def stale_contacts(session: Session, runtime: Runtime, principal: Principal) -> list[ContactRead]:
    """The caller's own party's contacts due for confirmation (its focal points keep them current)."""
    policy.require(policy.can_write_for_party(principal, principal.party), principal,
                   Action.DIRECTORY_READ, detail="only focal points keep their party's directory")
    return list_contacts(session, runtime, principal, party=principal.party, stale=True)


def _valid_id(contact_id: str) -> bool:
    try:
        return str(uuid.UUID(contact_id)) == contact_id
    except ValueError:
        return False


# Directory writes (rare) take one platform-wide lock first: a contact named as another's deputy
# (checked active, not locked) can then not be retired between that check and the commit, and retiring
# a contact (which unlinks the contacts deputising for it) never meets another write's row locks
# half-way. PostgreSQL; SQLite serialises every write transaction.
WRITE_LOCK_KEY = 0x4152_5844_4952_5752  # "ARXDIRWR"


def _writable(session: Session, principal: Principal, contact_id: str, action: Action) -> Contact:
    """An active contact (every caller may see it), or 404; then the write check (403)."""
    contact = session.scalar(select(Contact).where(Contact.id == contact_id,
                                                   Contact.retired_at.is_(None))) \
        if _valid_id(contact_id) else None
    if contact is None:
        raise NotFound(on_rollback=denied(principal, action, contact_id if _valid_id(contact_id)
                                          else None))
    if session.scalar(select(Contact.id).where(Contact.id == contact.id,
                                               policy.writable_contacts(principal))) is None:
        # Contacts are visible to everyone, so a 404 would be a lie: 403.
        raise Forbidden("only the focal points of the contact's party maintain it",
                        on_rollback=denied(principal, action, contact.id))
    return contact


def _active(session: Session, principal: Principal, contact_id: str, action: Action) -> Contact:
    """A writable contact (_writable) locked for writing: the directory's write lock is taken only
    once both checks passed, then the row's, read afresh (404 if retired meanwhile)."""
    checked = _writable(session, principal, contact_id, action)
    advisory_lock(session, WRITE_LOCK_KEY)
    contact = session.scalar(select(Contact).where(Contact.id == checked.id, Contact.retired_at.is_(None))
                             .with_for_update().execution_options(populate_existing=True))
    if contact is None:
        raise NotFound(on_rollback=denied(principal, action, checked.id))
    return contact


def get_contact(session: Session, runtime: Runtime, principal: Principal, contact_id: str, *,
                for_writing: bool = False) -> ContactRead:
    """One active contact (audited as read); for_writing: only for its own party's focal points."""
    if for_writing:
        contact = _writable(session, principal, contact_id, Action.DIRECTORY_UPDATE)
    else:
        found = session.scalar(select(Contact).where(Contact.id == contact_id,
                                                     Contact.retired_at.is_(None))) \
            if _valid_id(contact_id) else None
        if found is None:
            raise NotFound(on_rollback=denied(principal, Action.DIRECTORY_READ, None))
        contact = found
    return _read_all(session, runtime, principal, [contact])[0]


def _check(session: Session, principal: Principal, doc: ContactDocument, party: str,
           contact_id: str | None, action: Action) -> None:
    if doc.party is not None and doc.party != party:
        raise Forbidden("a party's focal points maintain only its own contacts",
                        on_rollback=denied(principal, action, contact_id))
    if session.scalar(registered_codes_query({party})) is None:
        raise InvalidInput("party: not a registered party", errors=[{"field": "party",
                                                                     "message": "unknown party"}])
    if doc.deputy_of is not None:
        deputy = session.scalar(select(Contact.id).where(
            Contact.id == doc.deputy_of, Contact.party == party, Contact.retired_at.is_(None)))
        if deputy is None or doc.deputy_of == contact_id:
            raise InvalidInput("deputy_of: not another active contact of this party",
                               errors=[{"field": "deputy_of", "message": "unknown contact"}])


def _seal(runtime: Runtime, principal: Principal, contact: Contact, number: int,
          doc: ContactDocument, now: datetime) -> ContactRevision:
    personal: dict[str, Any] = doc.model_dump(include=set(SEALED_FIELDS))
    revision = ContactRevision(contact_id=contact.id, revision=number, author=principal.username,
                               created_at=now)
    revision.store(runtime.envelope.seal(json.dumps(personal).encode(),
                                         contact_aad(contact.id, number, contact.party)))
    return revision


def _route(contact: Contact, doc: ContactDocument) -> None:
    contact.areas = _framed(doc.areas)
    contact.languages = _framed(doc.languages)
    contact.availability = doc.availability
    contact.deputy_of = doc.deputy_of


def create_contact(session: Session, runtime: Runtime, principal: Principal,
                   doc: ContactDocument) -> ContactRead:
    """Add a contact of the caller's own party (confirmed as of now)."""
    party = doc.party or principal.party
    if not policy.can_write_for_party(principal, party):
        raise Forbidden("only focal points add contacts, for their own party",
                        on_rollback=denied(principal, Action.DIRECTORY_CREATE, None))
    advisory_lock(session, WRITE_LOCK_KEY)
    _check(session, principal, doc, party, None, Action.DIRECTORY_CREATE)
    now = runtime.clock()
    contact = Contact(id=str(uuid.uuid4()), party=party, current_revision=1, created_at=now,
                      updated_at=now, confirmed_at=now)
    _route(contact, doc)
    session.add(contact)
    session.flush()
    session.add(_seal(runtime, principal, contact, 1, doc, now))
    session.flush()
    record(session, principal, Action.DIRECTORY_CREATE, object_id=contact.id)
    return _read_all(session, runtime, principal, [contact])[0]


def update_contact(session: Session, runtime: Runtime, principal: Principal, contact_id: str,
                   doc: ContactDocument) -> ContactRead:
    """Append a revision; an update by the party's focal point also confirms the contact."""
    contact = _active(session, principal, contact_id, Action.DIRECTORY_UPDATE)
    _check(session, principal, doc, contact.party, contact.id, Action.DIRECTORY_UPDATE)
    now = runtime.clock()
    number = contact.current_revision + 1
    session.add(_seal(runtime, principal, contact, number, doc, now))
    _route(contact, doc)
    contact.current_revision, contact.updated_at, contact.confirmed_at = number, now, now
    session.flush()
    record(session, principal, Action.DIRECTORY_UPDATE, object_id=contact.id)
    return _read_all(session, runtime, principal, [contact])[0]


def retire_contact(session: Session, runtime: Runtime, principal: Principal, contact_id: str) -> None:
    """Retire (never delete: revisions stay for the record); deputies of it lose the link."""
    contact = _active(session, principal, contact_id, Action.DIRECTORY_RETIRE)
    contact.retired_at = runtime.clock()
    for deputy in session.scalars(select(Contact).where(Contact.deputy_of == contact.id)):
        deputy.deputy_of = None
    session.flush()
    record(session, principal, Action.DIRECTORY_RETIRE, object_id=contact.id)


def confirm_contact(session: Session, runtime: Runtime, principal: Principal,
                    contact_id: str) -> ContactRead:
    """The contact is still right as it stands: restart its confirmation clock."""
    contact = _active(session, principal, contact_id, Action.DIRECTORY_CONFIRM)
    contact.confirmed_at = runtime.clock()
    session.flush()
    record(session, principal, Action.DIRECTORY_CONFIRM, object_id=contact.id)
    return _read_all(session, runtime, principal, [contact])[0]
