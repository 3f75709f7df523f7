"""Imports every model so Base.metadata is complete (for Alembic autogenerate and drift checks)."""

from app.audit.models import AuditCheckpoint, AuditDetailKey, AuditEntry, AuditLeaf
from app.directory.models import Contact, ContactReminder, ContactRevision
from app.enquiries.models import Enquiry, EnquiryTerm, Hit, HitMatch
from app.keys.models import KeyVersionRecord
from app.legislation.models import (
    LegislationLanguage,
    LegislationMeasure,
    LegislationProfile,
    LegislationRevision,
)
from app.notices.models import (
    Notice,
    NoticeParagraph,
    NoticeRecipient,
    NoticeRevision,
    NoticeRevisionRecipient,
)
from app.notifications.models import EmailOutbox, Notification
from app.parties.models import Party
from app.ratelimit import RateEvent
from app.reference.models import ParisParagraph
from app.requests.models import (
    CooperationRequest,
    DeadlineNotice,
    Obstacle,
    RequestMessage,
    RequestNotice,
    RequestSubjectTerm,
    RequestTransition,
)
from app.search.models import IndexBuild, SubjectTerm
from app.stats.models import StatCell
from app.users.models import LoginThrottle, RevokedToken, User
from app.web.models import PortalSession

__all__ = ["AuditCheckpoint", "AuditDetailKey", "AuditEntry", "AuditLeaf", "Contact",
           "ContactReminder", "ContactRevision", "CooperationRequest", "DeadlineNotice", "EmailOutbox",
           "Enquiry", "EnquiryTerm", "Hit", "HitMatch", "IndexBuild", "KeyVersionRecord",
           "LegislationLanguage", "LegislationMeasure", "LegislationProfile", "LegislationRevision",
           "LoginThrottle", "Notice", "NoticeParagraph", "NoticeRecipient", "NoticeRevision",
           "NoticeRevisionRecipient", "Notification", "Obstacle", "ParisParagraph", "Party",
           "PortalSession", "RateEvent", "RequestMessage", "RequestNotice", "RequestSubjectTerm",
           "RequestTransition", "RevokedToken", "StatCell", "SubjectTerm", "User"]
