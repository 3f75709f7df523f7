"""Portal sessions: start on sign-in, resolve per request (idle and absolute timeouts), end on logout.

The cookie carries 256 random bits; the table keeps only their SHA-256, so reading the database does
not let anyone ride a session. Timeouts are checked here, server-side, never trusted to the cookie.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.audit.record import Action, record
from app.auth.principal import Principal, Role
from app.config import Settings
from app.users.models import User
from app.web.models import PortalSession

COOKIE = "__Host-arx_session"


def hash_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class Resolved:
    """A live session and its account."""

    row: PortalSession
    user: User

    def principal(self, request_id: str) -> Principal:
        return Principal(username=self.user.username, party=self.user.party_code,
                         role=Role(self.user.role), user_id=self.user.id, request_id=request_id)


def start(session: Session, principal: Principal, now: datetime) -> tuple[str, PortalSession]:
    """A new session for an authenticated principal; returns the cookie value (shown once) and row."""
    user = session.get(User, principal.user_id)
    assert user is not None
    session_id = secrets.token_urlsafe(32)
    row = PortalSession(id_hash=hash_id(session_id), user_id=user.id, token_version=user.token_version,
                        csrf_token=secrets.token_urlsafe(32), created_at=now, last_seen_at=now)
    session.add(row)
    # Sessions past any lifetime are swept as new ones start: the table stays small without a job.
    session.execute(delete(PortalSession).where(PortalSession.user_id == user.id,
                                                PortalSession.last_seen_at < now - timedelta(days=1)))
    record(session, principal, Action.SESSION_START)
    return session_id, row


def resolve(session: Session, settings: Settings, session_id: str | None,
            now: datetime) -> Resolved | None:
    """The live session behind a cookie value, touched; None (and the row deleted) when expired,
    unknown, or its account was disabled or changed since."""
    if not session_id or len(session_id) > 100:
        return None
    found = session.execute(select(PortalSession, User).join(User, User.id == PortalSession.user_id)
                            .where(PortalSession.id_hash == hash_id(session_id))).first()
    if found is None:
        return None
    row, user = found
    idle = timedelta(seconds=settings.portal_idle_timeout_seconds)
    absolute = timedelta(seconds=settings.portal_absolute_timeout_seconds)
    if (now - row.last_seen_at > idle or now - row.created_at > absolute or user.disabled
            or user.token_version != row.token_version):
        session.delete(row)
        return None
    row.last_seen_at = now
    return Resolved(row=row, user=user)


def end(session: Session, resolved: Resolved, principal: Principal) -> None:
    """Log out: the row goes, so the cookie is worthless even if it was copied."""
    session.delete(resolved.row)
    record(session, principal, Action.SESSION_END)


def refresh_after_password_change(resolved: Resolved) -> None:
    """The session that changed the password survives it (every other one ends)."""
    resolved.row.token_version = resolved.user.token_version


def csrf_matches(resolved: Resolved, given: str | None) -> bool:
    return bool(given) and secrets.compare_digest(resolved.row.csrf_token.encode(),
                                                  str(given).encode())
