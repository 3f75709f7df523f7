"""The authenticated caller, as established from a verified token (or the CLI operator)."""

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    FOCAL_POINT = "focal_point"
    COURT_INVESTIGATOR = "court_investigator"
    AUDITOR = "auditor"
    ADMIN = "admin"


ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Principal:
    """Who is acting: identity from the token, plus the request id their audit entries carry."""

    username: str
    party: str
    role: str  # a Role, or ANONYMOUS for the caller of a login that has not succeeded
    user_id: int | None = None
    jti: str | None = None
    expires_at: int | None = None
    request_id: str = "-"
