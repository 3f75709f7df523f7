"""Logging in (password, TOTP, throttling) and out."""

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pyotp
from sqlalchemy import CursorResult, case, delete, or_, select, update
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
T = TypeVar("T")
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


def audit_name(runtime: Runtime, typed: str, known: bool) -> str:
    """How an attempted username appears in the audit log and the throttle table.

    An account's own name when it exists; otherwise a keyed hash (HMAC under a sub-key of the active
    index key): an unknown name is whatever was typed, sometimes a password in the wrong field, and a
    stolen database must not show it. "~" starts no valid username, so the two never collide."""
    if known or typed == INVALID_USERNAME:
        return typed
    ring = runtime.keys.current()
    key = ring.derive("index", ring.active_version("index"), "audit/login-username")
    return "~" + hmac.new(key, typed.encode(), hashlib.sha256).hexdigest()[:40]


@dataclass(frozen=True)
class _Attempt:
    """A login attempt admitted (and already counted as a failure) before its password is checked."""

    name: str  # as audit_name gives it
    who: Principal
    user_id: int | None
    password_hash: str | None
    locks: bool  # the account is locked if this attempt fails


def _admit(session: Session, runtime: Runtime, typed: str, request_id: str) -> _Attempt:
    """Count the attempt, or refuse it (429) while the name is locked; one short transaction.

    Counting *before* the password is checked keeps lockout exact with the hash outside any
    transaction: concurrent guesses each take a number atomically (the upsert holds the row, or the
    SQLite write lock, until commit), and the one that reaches the limit locks the name for everyone
    after it at once. A correct password then clears the count."""
    user = session.scalar(select(User).where(User.username == typed)) if typed != INVALID_USERNAME \
        else None
    name = audit_name(runtime, typed, known=user is not None)
    who = _anonymous(name, request_id)
    now = datetime.now(UTC)
    locked = LoginThrottle.locked_until > now
    statement = _insert(session)(LoginThrottle).values(username=name, failures=1, last_failure_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=[LoginThrottle.username],
        # While locked the attempt is refused, not counted: the lock grows only with real guesses.
        set_={"failures": case((locked, LoginThrottle.failures), else_=LoginThrottle.failures + 1),
              "last_failure_at": case((locked, LoginThrottle.last_failure_at), else_=now)})
    failures, locked_until = session.execute(
        statement.returning(LoginThrottle.failures, LoginThrottle.locked_until)).one()
    if locked_until is not None and locked_until.replace(tzinfo=UTC) > now:
        retry = int((locked_until.replace(tzinfo=UTC) - now).total_seconds()) + 1
        raise TooManyRequests("Too many failed logins; try again later.", retry_after=retry,
                              on_rollback=denied(who, Action.LOGIN, None))
    lock = _lockout(runtime, failures)
    if lock:
        session.execute(update(LoginThrottle).where(LoginThrottle.username == name)
                        .values(locked_until=now + lock))
    return _Attempt(name=name, who=who, user_id=user.id if user else None,
                    password_hash=user.password_hash if user else None, locks=bool(lock))


def _conclude(session: Session, runtime: Runtime, attempt: _Attempt, password_ok: bool,
              otp: str | None) -> tuple[Principal, User] | None:
    """Audit the attempt; on success clear the count. One short transaction."""
    user = session.get(User, attempt.user_id) if attempt.user_id is not None else None
    ok = (password_ok and user is not None and user.password_hash == attempt.password_hash
          and not user.disabled and _accept_totp(session, runtime, user, otp))
    if not ok or user is None:
        if attempt.locks:
            log.warning("login locked", extra={"request_id": attempt.who.request_id})
        record(session, attempt.who, Action.LOGIN, outcome=Outcome.FAILED)
        return None
    session.execute(delete(LoginThrottle).where(LoginThrottle.username == attempt.name))
    principal = Principal(username=user.username, party=user.party_code, role=Role(user.role),
                          user_id=user.id, request_id=attempt.who.request_id)
    record(session, principal, Action.LOGIN)
    return principal, user


def authenticate(runtime: Runtime, *, username: str, password: str, otp: str | None,
                 request_id: str,
                 then: Callable[[Session, Principal, User], T] | None = None) -> tuple[Principal, T | None]:
    """The account behind a password (and TOTP code), audited as a login; or Unauthorized with the same
    answer whatever was wrong, TooManyRequests while locked. The token endpoint and the portal both
    sign in through here: one lockout, one audit trail. `then` runs in the transaction that records the
    success (the token endpoint issues its token there).

    A job of its own transactions, never called inside one: the argon2 check (tens of milliseconds)
    runs with none open, so a flood of logins never holds SQLite's write lock (or a PostgreSQL
    connection) while hashing."""
    typed = normalise_username(username)
    if not USERNAME.fullmatch(typed):
        typed = INVALID_USERNAME
    with runtime.db.unit_of_work() as session:
        attempt = _admit(session, runtime, typed, request_id)
    password_ok = verify_password(attempt.password_hash, password)
    with runtime.db.unit_of_work() as session:
        concluded = _conclude(session, runtime, attempt, password_ok, otp)
        if concluded is not None and then is not None:
            return concluded[0], then(session, *concluded)
    if concluded is None:
        raise Unauthorized(LOGIN_FAILED)
    return concluded[0], None


def _issue_token(session: Session, principal: Principal, user: User,
                 runtime: Runtime) -> tuple[str, int]:
    token, ttl = runtime.tokens.issue(username=user.username, party=user.party_code, role=user.role,
                                      token_version=user.token_version)
    record(session, principal, Action.TOKEN_ISSUE)
    return token, ttl


def login(runtime: Runtime, *, username: str, password: str, otp: str | None,
          request_id: str) -> tuple[str, int]:
    """A fresh access token (issued and audited with the login), or authenticate's refusals."""
    _, issued = authenticate(runtime, username=username, password=password, otp=otp,
                             request_id=request_id,
                             then=lambda session, principal, user: _issue_token(session, principal,
                                                                                user, runtime))
    assert issued is not None
    return issued


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
