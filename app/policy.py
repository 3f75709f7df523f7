"""Every access decision in ARX: predicates and the SQL visibility filters derived from the same rules.

Deny by default. Admins and auditors never see notice content. A notice is visible to the content roles
of its author party and of every party it names as recipient (``*``: every party). Anything invisible is
answered 404 by the callers, exactly like anything absent.
"""

from collections.abc import Iterable

from sqlalchemy import ColumnElement, exists, false, or_, select

from app.audit.record import Action, denied
from app.auth.principal import Principal, Role
from app.errors import AppError, Forbidden, NotFound
from app.notices.models import BROADCAST, Notice, NoticeRecipient

CONTENT_ROLES = frozenset({Role.FOCAL_POINT, Role.COURT_INVESTIGATOR})


def sees_content(principal: Principal) -> bool:
    """Only focal points and Court investigators ever see notice content."""
    return principal.role in CONTENT_ROLES


def audience_of(principal: Principal) -> tuple[str, str]:
    """Recipient codes that make a notice visible to principal: its party and the broadcast marker."""
    return (principal.party, BROADCAST)


# -- refusals: raised here, audited by construction ---------------------------------------------------
def refusal(principal: Principal, action: Action, object_id: str | None = None, *,
            hidden: bool = False, detail: str = "This role may not do this.") -> AppError:
    """The error refusing principal the action: 404 when the object must look absent (hidden), else 403.

    It carries the hook that writes the denied audit entry; Database.unit_of_work runs it after the
    refused transaction rolled back, so no entry point (API, CLI, job) can forget it."""
    hook = denied(principal, action, object_id)
    if hidden:
        return NotFound(on_rollback=hook)
    return Forbidden(detail, on_rollback=hook)


def require(allowed: bool, principal: Principal, action: Action, object_id: str | None = None, *,
            hidden: bool = False, detail: str = "This role may not do this.") -> None:
    """Raise the audited refusal of action unless allowed (see refusal)."""
    if not allowed:
        raise refusal(principal, action, object_id, hidden=hidden, detail=detail)


# -- notices: the one rule, as a predicate and as SQL ------------------------------------------------
def can_read_notice(principal: Principal, author_party: str, recipients: Iterable[str]) -> bool:
    if not sees_content(principal):
        return False
    return author_party == principal.party or not set(audience_of(principal)).isdisjoint(recipients)


def visible_notices(principal: Principal) -> ColumnElement[bool]:
    """SQL filter on Notice selecting exactly the rows can_read_notice admits."""
    if not sees_content(principal):
        return false()
    shared = exists(select(NoticeRecipient.notice_id).where(
        NoticeRecipient.notice_id == Notice.id,
        NoticeRecipient.party_code.in_(audience_of(principal))))
    return or_(Notice.author_party == principal.party, shared)


def can_post_notice(principal: Principal) -> bool:
    return sees_content(principal)


def revisable_notices(principal: Principal) -> ColumnElement[bool]:
    """SQL filter: notices principal may append revisions to (its own party's)."""
    if not sees_content(principal):
        return false()
    return Notice.author_party == principal.party


def can_read_access_log(principal: Principal, author_party: str) -> bool:
    """Originating States see who accessed their notices."""
    return sees_content(principal) and author_party == principal.party


def can_search_subjects(principal: Principal) -> bool:
    return sees_content(principal)


# -- audit ----------------------------------------------------------------------------------------------
def can_read_audit_entries(principal: Principal) -> bool:
    return principal.role == Role.AUDITOR
