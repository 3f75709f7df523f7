"""Logging in (password, TOTP, throttling) and out."""

import hmac
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
from sqlalchemy import CursorResult, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.audit.record import Action, Outcome, denied, record
from app.auth.passwords import verify_password
from app.auth.principal import ANONYMOUS, Principal, Role
from app.errors import TooManyRequests, Unauthorized
from app.runtime import Runtime
from app.users.models import LoginThrottle, RevokedToken, User
from app.users.service import USERNAME, normalise_username, totp_aad

log = logging.getLogger("arx.auth")
LOGIN_FAILED = "Invalid username, password or one-time code."
MAX_LOCKOUT = timedelta(hours=1)
TOTP_STEP = 30
# Stands in for any attempted username no account can have (bad characters, NUL, too long): such
# strings never reach a query or the audit log, and they share one throttle.
INVALID_USERNAME = "-invalid-"


def _anonymous(username: str, request_id: str) -> Principal:
    """The not-yet-authenticated caller of a login, as its audit entries name it."""
    return Principal(username=username, party="-", role=ANONYMOUS, request_id=request_id)


def _accept_totp(session: Session, runtime: Runtime, user: User, otp: str | None) -> bool:
    """RFC 6238 with one step of drift either way; each step's code is accepted once (replay)."""
    sealed = user.totp_sealed()
    if sealed is None:
        return True
    # isascii: str.isdigit admits "١٢٣٤٥٦", on which hmac.compare_digest raises (a 500).
    if not otp or not otp.isascii() or not otp.isdigit() or len(otp) != 6:
        return False
    totp = pyotp.TOTP(runtime.envelope.open(sealed, totp_aad(user.username)).decode())
    now_step = int(time.time()) // TOTP_STEP
    for step in (now_step - 1, now_step, now_step + 1):
        if hmac.compare_digest(totp.generate_otp(step), otp):
            # A conditional UPDATE, not read-then-write: of two concurrent logins with one code,
            # the second waits for the first's row lock, re-reads, and matches no row.
            claimed = session.execute(
                update(User).where(User.id == user.id, or_(User.totp_last_step.is_(None),
                                                           User.totp_last_step < step))
                .values(totp_last_step=step).execution_options(synchronize_session=False))
            assert isinstance(claimed, CursorResult)  # an UPDATE's result counts its rows
            return claimed.rowcount == 1
    return False


def _lockout(runtime: Runtime, failures: int) -> timedelta:
    over = failures - runtime.settings.login_max_failures
    if over < 0:
        return timedelta(0)
    return min(MAX_LOCKOUT, timedelta(seconds=runtime.settings.login_lockout_seconds * 2 ** min(over, 16)))


def _insert(session: Session) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (PostgreSQL and SQLite alike)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _count_failure(session: Session, username: str, now: datetime) -> int:
    """Add one failure atomically (upsert) and return the new count: concurrent guesses must not
    share one read of the count, nor race to create the row."""
    statement = _insert(session)(LoginThrottle).values(username=username, failures=1,
                                                       last_failure_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=[LoginThrottle.username],
        set_={"failures": LoginThrottle.failures + 1, "last_failure_at": now})
    return session.execute(statement.returning(LoginThrottle.failures)).scalar_one()


def _failed(runtime: Runtime, username: str, request_id: str) -> Callable[[Session], None]:
    """on_rollback hook: count the failure (known and unknown usernames alike) and audit it."""

    def write(session: Session) -> None:
        now = datetime.now(UTC)
        failures = _count_failure(session, username, now)
        lock = _lockout(runtime, failures)
        if lock:
            session.execute(update(LoginThrottle).where(LoginThrottle.username == username)
                            .values(locked_until=now + lock))
            log.warning("login locked", extra={"request_id": request_id, "failures": failures})
        record(session, _anonymous(username, request_id), Action.LOGIN, outcome=Outcome.FAILED)

    return write


def authenticate(session: Session, runtime: Runtime, *, username: str, password: str,
                 otp: str | None, request_id: str) -> Principal:
    """The account behind a password (and TOTP code), audited as a login; or Unauthorized with the same
    answer whatever was wrong, TooManyRequests while locked. The token endpoint and the portal both
    sign in through here: one lockout, one audit trail."""
    username = normalise_username(username)
    if not USERNAME.fullmatch(username):
        username = INVALID_USERNAME
    now = datetime.now(UTC)
    throttle = session.get(LoginThrottle, username)
    if throttle is not None and throttle.locked_until is not None and throttle.locked_until > now:
        retry = int((throttle.locked_until - now).total_seconds()) + 1
        raise TooManyRequests("Too many failed logins; try again later.", retry_after=retry,
                              on_rollback=denied(_anonymous(username, request_id), Action.LOGIN, None))
    user = session.scalar(select(User).where(User.username == username))
    ok = verify_password(user.password_hash if user else None, password)
    ok = ok and user is not None and not user.disabled and _accept_totp(session, runtime, user, otp)
    if not ok or user is None:
        raise Unauthorized(LOGIN_FAILED, on_rollback=_failed(runtime, username, request_id))
    if throttle is not None:
        session.delete(throttle)
    principal = Principal(username=user.username, party=user.party_code, role=Role(user.role),
                          user_id=user.id, request_id=request_id)
    record(session, principal, Action.LOGIN)
    return principal


def login(session: Session, runtime: Runtime, *, username: str, password: str, otp: str | None,
          request_id: str) -> tuple[str, int]:
    """A fresh access token, or Unauthorized with the same answer whatever was wrong."""
    principal = authenticate(session, runtime, username=username, password=password, otp=otp,
                             request_id=request_id)
    user = session.get(User, principal.user_id)
    assert user is not None
    token, ttl = runtime.tokens.issue(username=user.username, party=user.party_code, role=user.role,
                                      token_version=user.token_version)
    record(session, principal, Action.TOKEN_ISSUE)
    return token, ttl


def logout(session: Session, principal: Principal) -> None:
    """Deny the presented token's jti until it would have expired."""
    assert principal.jti is not None and principal.expires_at is not None
    now = datetime.now(UTC)
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
    # ON CONFLICT DO NOTHING: two concurrent logouts of one token both succeed (not a 500).
    session.execute(_insert(session)(RevokedToken).values(
        jti=principal.jti, expires_at=datetime.fromtimestamp(principal.expires_at, UTC))
        .on_conflict_do_nothing())
    record(session, principal, Action.TOKEN_REVOKE, object_id=principal.jti)
