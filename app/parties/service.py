"""Registering and listing parties."""

import re
from collections.abc import Collection
from typing import Any

import pycountry
from sqlalchemy import BindParameter, Select, select
from sqlalchemy.orm import Session

from app.audit.record import Action, record
from app.auth.principal import Principal
from app.errors import Conflict, InvalidInput
from app.parties.models import Party

COURT = "ICC"
KINDS = ("state", "court", "organization")
_ORG_CODE = re.compile(r"^[A-Z][A-Z0-9]{1,7}$")


def validate_party(code: str, kind: str) -> None:
    """A State is an ISO 3166-1 alpha-3 code; the Court is ICC; organisations 2–8 capitals/digits."""
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", errors=[{"field": "kind",
                                                                               "message": "unknown"}])
    if kind == "state" and (len(code) != 3 or pycountry.countries.get(alpha_3=code) is None):
        raise InvalidInput("a State party code is an ISO 3166-1 alpha-3 code",
                           errors=[{"field": "code", "message": "not ISO 3166-1 alpha-3"}])
    if kind == "court" and code != COURT:
        raise InvalidInput("the Court's party code is ICC", errors=[{"field": "code", "message": "not ICC"}])
    if kind == "organization" and (not _ORG_CODE.match(code) or pycountry.countries.get(alpha_3=code)
                                   or code == COURT):
        raise InvalidInput("an organisation code is 2–8 capitals or digits, not a State's or the Court's",
                           errors=[{"field": "code", "message": "invalid"}])


def add_party(session: Session, actor: Principal, *, code: str, name: str, kind: str) -> Party:
    code = code.strip().upper()
    validate_party(code, kind)
    if not name.strip() or len(name) > 200:
        raise InvalidInput("name must be 1–200 characters", errors=[{"field": "name", "message": "length"}])
    if session.get(Party, code) is not None:
        raise Conflict(f"party {code} already exists")
    party = Party(code=code, name=name.strip(), kind=kind)
    session.add(party)
    record(session, actor, Action.PARTY_ADD, object_id=code)
    return party


def ensure_court(session: Session, actor: Principal) -> bool:
    """Create party ICC if absent; True when created."""
    if session.get(Party, COURT) is not None:
        return False
    add_party(session, actor, code=COURT, name="International Criminal Court", kind="court")
    return True


def list_parties(session: Session) -> list[Party]:
    return list(session.scalars(select(Party).where(Party.active).order_by(Party.code)))


def registered_codes_query(codes: Collection[str] | BindParameter[Any]) -> Select[tuple[str]]:
    """The codes among codes that are active registered parties."""
    return select(Party.code).where(Party.code.in_(codes), Party.active)

