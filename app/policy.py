"""Every access decision in ARX: predicates and the SQL visibility filters derived from the same rules.

Deny by default. Admins and auditors never see notice content. A notice is visible to the content roles
of its author party and of every party it names as recipient (``*``: every party). The same rule applies
to each revision with the recipients that revision had: an earlier, more restricted revision is never
shown to a party it was not shared with, whatever the notice's routing became. Anything invisible is
answered 404 by the callers, exactly like anything absent.
"""

from collections.abc import Iterable
from functools import lru_cache

from sqlalchemy import ColumnElement, exists, false, not_, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from app.audit.record import Action, denied
from app.auth.principal import Principal, Role
from app.directory.models import Contact
from app.enquiries.models import Hit
from app.errors import AppError, Forbidden, NotFound
from app.notices.models import BROADCAST, Notice, NoticeRecipient, NoticeRevision, NoticeRevisionRecipient
from app.notifications.models import Notification
from app.requests.models import CooperationRequest
from app.stats.models import StatCell

CONTENT_ROLES = frozenset({Role.FOCAL_POINT, Role.COURT_INVESTIGATOR})


def sees_content(principal: Principal) -> bool:
    """Only focal points and Court investigators ever see notice content."""
    return principal.role in CONTENT_ROLES


def audience_of(principal: Principal) -> tuple[str, str]:
    """Recipient codes that make a notice visible to principal: its party and the broadcast marker."""
    return (principal.party, BROADCAST)


# -- authored by the caller's party: it sees, revises and reads the access log of its notices --------
def authored_by_caller(principal: Principal, author_party: str) -> bool:
    """The content roles of the party that wrote the notice."""
    return sees_content(principal) and author_party == principal.party


def authored_by_caller_sql(principal: Principal,
                           author_party: InstrumentedAttribute[str] = Notice.author_party,
                           ) -> ColumnElement[bool]:
    """authored_by_caller in SQL."""
    if not sees_content(principal):
        return false()
    return author_party == principal.party


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


# -- the one rule, as a predicate and as SQL: the author party, or a party named (or "*") -----------
def _shared_with(principal: Principal, author_party: str, recipients: Iterable[str]) -> bool:
    if not sees_content(principal):
        return False
    return (authored_by_caller(principal, author_party)
            or not set(audience_of(principal)).isdisjoint(recipients))


def _shared_with_sql(principal: Principal, author_party: InstrumentedAttribute[str],
                     named: ColumnElement[bool]) -> ColumnElement[bool]:
    """_shared_with in SQL; named(…) is an EXISTS over the recipient rows, given the audience."""
    if not sees_content(principal):
        return false()
    return or_(authored_by_caller_sql(principal, author_party), named)


# -- notices (their current routing) ------------------------------------------------------------------
def can_read_notice(principal: Principal, author_party: str, recipients: Iterable[str]) -> bool:
    return _shared_with(principal, author_party, recipients)


def visible_notices(principal: Principal) -> ColumnElement[bool]:
    """SQL filter on Notice selecting exactly the rows can_read_notice admits. The same expression
    object for the same party and role (all the rule depends on), so that statements built on it can
    be built once per scope (search)."""
    return _visible_notices(principal.party, principal.role)


@lru_cache(maxsize=4096)
def _visible_notices(party: str, role: str) -> ColumnElement[bool]:
    principal = Principal(username="-", party=party, role=role)
    return _shared_with_sql(principal, Notice.author_party, exists(
        select(NoticeRecipient.notice_id).where(
            NoticeRecipient.notice_id == Notice.id,
            NoticeRecipient.party_code.in_(audience_of(principal)))))


def hidden_notices(principal: Principal) -> ColumnElement[bool]:
    """SQL filter on Notice: exactly the rows visible_notices refuses (what an enquiry looks into;
    what principal may see, search already shows). One object per party and role, as visible_notices."""
    return _hidden_notices(principal.party, principal.role)


@lru_cache(maxsize=4096)
def _hidden_notices(party: str, role: str) -> ColumnElement[bool]:
    return not_(_visible_notices(party, role))


@lru_cache(maxsize=4096)
def other_parties_notices(party: str) -> ColumnElement[bool]:
    """SQL filter on Notice: the notices of every party but party, whoever they are shared with: what
    deconfliction matches a notice of party against (only the hits it makes tell anyone, and those
    follow reveals_itself and visibility). One object per party, so that matching's statements are
    built once per party, not on every post."""
    return Notice.author_party != party


def party_reads_notice(party: str, author_party: str, recipients: Iterable[str]) -> bool:
    """can_read_notice for the content roles of a party (deconfliction and standing enquiries ask
    it of parties, not of a signed-in user)."""
    return _shared_with(Principal(username="-", party=party, role=Role.FOCAL_POINT), author_party,
                        recipients)


# -- revisions (the routing each revision had when it was written) ------------------------------------
def can_read_revision(principal: Principal, author_party: str,
                      revision_recipients: Iterable[str]) -> bool:
    """A revision is shown only to parties that revision, as it stood, was shared with."""
    return _shared_with(principal, author_party, revision_recipients)


def visible_revisions(principal: Principal) -> ColumnElement[bool]:
    """SQL filter on NoticeRevision (joined to its Notice) selecting what can_read_revision admits."""
    return _shared_with_sql(principal, Notice.author_party, exists(
        select(NoticeRevisionRecipient.notice_id).where(
            NoticeRevisionRecipient.notice_id == NoticeRevision.notice_id,
            NoticeRevisionRecipient.revision == NoticeRevision.revision,
            NoticeRevisionRecipient.party_code.in_(audience_of(principal)))))


def can_post_notice(principal: Principal) -> bool:
    return sees_content(principal)


def revisable_notices(principal: Principal) -> ColumnElement[bool]:
    """SQL filter: notices principal may append revisions to (its own party's)."""
    return authored_by_caller_sql(principal)


def can_revise_notice(principal: Principal, author_party: str) -> bool:
    """The predicate of revisable_notices (for showing an edit form; revise_notice applies the SQL)."""
    return authored_by_caller(principal, author_party)


def access_log_notices(principal: Principal) -> ColumnElement[bool]:
    """SQL filter: notices whose access log principal reads (originating States see who accessed them)."""
    return authored_by_caller_sql(principal)


def can_read_access_log(principal: Principal, author_party: str) -> bool:
    """The predicate of access_log_notices (for showing the log on a notice page)."""
    return authored_by_caller(principal, author_party)


def can_export_party_notices(principal: Principal, party: str) -> bool:
    """A party's own notices are exported in bulk by its content roles only (authored_by_caller);
    each notice is still fetched through visible_notices."""
    return authored_by_caller(principal, party)


def can_search_subjects(principal: Principal) -> bool:
    return sees_content(principal)


# -- enquiries and hits ----------------------------------------------------------------------------------
def can_enquire(principal: Principal) -> bool:
    return sees_content(principal)


def received_hits(principal: Principal) -> ColumnElement[bool]:
    """SQL filter on Hit: hits on the caller's party's notices (its owner decides them)."""
    if not sees_content(principal):
        return false()
    return Hit.owner_party == principal.party


def sent_hits(principal: Principal) -> ColumnElement[bool]:
    """SQL filter on Hit: hits the caller's party may know of as enquirer. A hit on a notice that may
    not reveal itself (RED, AMBER+STRICT) is never among them."""
    if not sees_content(principal):
        return false()
    return (Hit.counterpart_party == principal.party) & Hit.revealed.is_(True)


# -- requests for cooperation: the requester and addressee parties only, as a predicate and as SQL --------
def request_side(principal: Principal, requester: str, addressee: str) -> str | None:
    """"requester" or "addressee" when principal acts for that side of a request; None: it sees nothing.
    (A party never addresses itself, so the two cannot both hold.)"""
    if not sees_content(principal):
        return None
    if principal.party == requester:
        return "requester"
    if principal.party == addressee:
        return "addressee"
    return None


def can_read_request(principal: Principal, requester: str, addressee: str) -> bool:
    return request_side(principal, requester, addressee) is not None


def visible_requests(principal: Principal) -> ColumnElement[bool]:
    """SQL filter on CooperationRequest selecting exactly the rows can_read_request admits: get, list,
    messages, transitions, search and statistics all fetch through it."""
    if not sees_content(principal):
        return false()
    return or_(CooperationRequest.requester == principal.party,
               CooperationRequest.addressee == principal.party)


def can_create_request(principal: Principal) -> bool:
    return sees_content(principal)


def can_list_request_routing(principal: Principal) -> bool:
    """Operators (the CLI) list routing data of every request: never content."""
    return principal.role == Role.ADMIN


# -- statistics (docs/statistics.md) ----------------------------------------------------------------------
# Statistics are derived from content (asset statuses, places, currencies and amounts are encrypted in
# the notices), so they follow the content rule: the content roles read them, in both scopes; auditors and
# admins, who never see content, are refused (403) on the API and the portal. `mine` is the caller's
# party's own notices and requests, complete; `platform` is every party's, aggregated across parties and
# never broken down by party, with small cells suppressed (app/stats/service.py). The yearly report is
# platform-scope only, so operators may also produce it from the CLI for the Court's report.
def can_read_statistics(principal: Principal) -> bool:
    return sees_content(principal)


def can_produce_report(principal: Principal) -> bool:
    """The yearly report (platform scope only): the content roles, and operators at the CLI."""
    return sees_content(principal) or principal.role == Role.ADMIN


def own_stat_cells(principal: Principal) -> ColumnElement[bool]:
    """SQL filter on StatCell: the cells of the caller's own party's notices (`mine`; and what
    suppression of `platform` cells discounts, so that platform minus mine never isolates a few
    notices of others). An operator acts for no party: nothing is its own."""
    if not sees_content(principal):
        return false()
    return StatCell.party == principal.party


def all_stat_cells(principal: Principal) -> ColumnElement[bool]:
    """SQL filter on StatCell for `platform`: every party's cells, which the service only ever sums
    across parties and suppresses when small."""
    return true() if can_produce_report(principal) else false()


def own_requests(principal: Principal) -> ColumnElement[bool]:
    """SQL filter on CooperationRequest for `mine`: exactly visible_requests (requester or addressee)."""
    return visible_requests(principal)


def all_requests(principal: Principal) -> ColumnElement[bool]:
    """SQL filter on CooperationRequest for `platform` statistics (aggregated, suppressed when small)."""
    return true() if can_produce_report(principal) else false()


# -- audit ----------------------------------------------------------------------------------------------
def can_read_audit_entries(principal: Principal) -> bool:
    return principal.role == Role.AUDITOR


# -- legislation and the focal-point directory --------------------------------------------------------
# One rule for both: every authenticated user reads (reads are audited); only the focal points of the
# party a profile or contact belongs to write it. Bulk loading of profiles is the operators' (CLI).
def can_read_reference(principal: Principal) -> bool:
    """Legal profiles and the directory are read by every authenticated user."""
    return principal.role in set(Role)


def can_write_for_party(principal: Principal, party: str) -> bool:
    """Profiles and contacts of party are written by that party's focal points only."""
    return principal.role == Role.FOCAL_POINT and principal.party == party


def writable_contacts(principal: Principal) -> ColumnElement[bool]:
    """SQL filter on Contact: the rows can_write_for_party admits."""
    if principal.role != Role.FOCAL_POINT:
        return false()
    return Contact.party == principal.party


def can_import_legislation(principal: Principal) -> bool:
    return principal.role == Role.ADMIN


# -- notifications: each user reads only its own ------------------------------------------------------
def own_notifications(principal: Principal) -> ColumnElement[bool]:
    """SQL filter on Notification: the caller's own rows (nobody else's, whatever the role)."""
    if principal.user_id is None:
        return false()
    return Notification.user_id == principal.user_id
