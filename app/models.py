"""Imports every model so Base.metadata is complete (for Alembic autogenerate and drift checks)."""

from app.audit.models import AuditCheckpoint, AuditEntry, AuditLeaf
from app.enquiries.models import Enquiry, EnquiryTerm, Hit, HitMatch
from app.notices.models import Notice, NoticeParagraph, NoticeRecipient, NoticeRevision
from app.notifications.models import EmailOutbox, Notification
from app.parties.models import Party
from app.ratelimit import RateEvent
from app.reference.models import ParisParagraph
from app.requests.models import (CooperationRequest, DeadlineNotice, Obstacle, RequestMessage,
                                 RequestNotice, RequestSubjectTerm, RequestTransition)
from app.search.models import IndexBuild, SubjectTerm
from app.users.models import LoginThrottle, RevokedToken, User

__all__ = ["AuditCheckpoint", "AuditEntry", "AuditLeaf", "CooperationRequest", "DeadlineNotice",
           "EmailOutbox", "Enquiry", "EnquiryTerm", "Hit", "HitMatch", "IndexBuild", "LoginThrottle",
           "Notice", "NoticeParagraph", "NoticeRecipient", "NoticeRevision", "Notification", "Obstacle",
           "ParisParagraph", "Party", "RateEvent", "RequestMessage", "RequestNotice",
           "RequestSubjectTerm", "RequestTransition", "RevokedToken", "SubjectTerm", "User"]
