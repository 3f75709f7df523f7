"""Imports every model so Base.metadata is complete (for Alembic autogenerate and drift checks)."""

from app.audit.models import AuditCheckpoint, AuditDetailKey, AuditEntry, AuditLeaf
from app.keys.models import KeyVersionRecord
from app.notices.models import Notice, NoticeParagraph, NoticeRecipient, NoticeRevision
from app.parties.models import Party
from app.ratelimit import RateEvent
from app.reference.models import ParisParagraph
from app.search.models import IndexBuild, SubjectTerm
from app.users.models import LoginThrottle, RevokedToken, User

__all__ = ["AuditCheckpoint", "AuditDetailKey", "AuditEntry", "AuditLeaf", "IndexBuild", "KeyVersionRecord",
           "LoginThrottle", "Notice", "NoticeParagraph", "NoticeRecipient", "NoticeRevision",
           "ParisParagraph", "Party", "RateEvent",
           "RevokedToken", "SubjectTerm", "User"]
