"""User administration: create, disable."""

import hmac
import re
from datetime import UTC, datetime

import pyotp
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from app.audit.record import Action, record
from app.auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, hash_password
from app.auth.principal import Principal, Role
from app.crypto.columns import SealedTable
from app.crypto.envelope import Envelope
from app.errors import Conflict, InvalidInput, NotFound
from app.parties.models import Party
from app.users.models import User

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")


def totp_aad(username: str) -> bytes:
    return b"arx/totp|" + username.encode()


def email_aad(username: str) -> bytes:
    return b"arx/email|" + username.encode()


# Each user's sealed secrets, for the key jobs of app/keys/tables.py (rewrap moves them, retire counts them).
SEALED = (SealedTable("totp_secrets", User, lambda user: totp_aad(user.username),
                      version="totp_key_version", wrapped="totp_wrapped_key"),
          SealedTable("emails", User, lambda user: email_aad(user.username),
                      version="email_key_version", wrapped="email_wrapped_key"))


# Deliberately loose (RFC 5321 addresses are hard to validate fully): one @, no spaces or controls.
EMAIL = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]{1,253}$")


def normalise_username(username: str) -> str:
    return username.strip().lower()


def add_user(session: Session, actor: Principal, envelope: Envelope, *, username: str, party: str,
             role: str, password: str, totp: bool = False,
             email: str | None = None) -> tuple[User, str | None]:
    """Create a user; returns it and, with totp, the base32 secret to hand over once."""
    username = normalise_username(username)
    if not USERNAME.match(username):
        raise InvalidInput("username: 2–64 of a-z 0-9 . _ @ -", errors=[{"field": "username",
                                                                          "message": "invalid"}])
    try:
        role_value = Role(role)
    except ValueError:
        raise InvalidInput(f"role must be one of {', '.join(r.value for r in Role)}",
                           errors=[{"field": "role", "message": "unknown"}]) from None
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"password must be {MIN_PASSWORD_LENGTH}–{MAX_PASSWORD_LENGTH} characters",
                           errors=[{"field": "password", "message": "length"}])
    party_row = session.get(Party, party.strip().upper())
    if party_row is None or not party_row.active:
        raise InvalidInput("unknown party", errors=[{"field": "party", "message": "not registered"}])
    if role_value == Role.COURT_INVESTIGATOR and party_row.kind != "court":
        raise InvalidInput("court investigators belong to the Court (ICC)",
                           errors=[{"field": "role", "message": "needs party ICC"}])
    if role_value == Role.FOCAL_POINT and party_row.kind == "court":
        raise InvalidInput("focal points belong to a State or organisation",
                           errors=[{"field": "role", "message": "not for the Court"}])
    if email is not None and not EMAIL.match(email.strip()):
        raise InvalidInput("email: not an e-mail address", errors=[{"field": "email",
                                                                    "message": "invalid"}])
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username} already exists")
    user = User(username=username, party_code=party_row.code, role=role_value.value,
                password_hash=hash_password(password))
    secret = None
    if totp:
        secret = pyotp.random_base32(length=32)
        user.store_totp(envelope.seal(secret.encode(), totp_aad(username)))
    if email is not None:
        user.store_email(envelope.seal(email.strip().encode(), email_aad(username)))
    session.add(user)
    session.flush()
    record(session, actor, Action.USER_ADD, object_id=username)
    return user, secret


def _locked(session: Session, where: ColumnElement[bool]) -> User | None:
    """The user for a change of its token_version, locked and read afresh: two concurrent increments
    must not make one. FOR NO KEY UPDATE: rows a post inserts under the matching lock refer to users
    (FOR KEY SHARE) meanwhile."""
    return session.scalar(select(User).where(where).with_for_update(key_share=True)
                          .execution_options(populate_existing=True))


def disable_user(session: Session, actor: Principal, username: str) -> User:
    user = _locked(session, User.username == normalise_username(username))
    if user is None:
        raise NotFound("no such user")
    user.disabled = True
    user.token_version += 1  # every token it holds dies at once
    record(session, actor, Action.USER_DISABLE, object_id=user.username)
    return user


def change_password(session: Session, actor: Principal, *, current: str, new: str) -> User:
    """The caller's own password; every other session and token of the account dies (token_version)."""
    from app.auth.passwords import verify_password

    user = _locked(session, User.id == actor.user_id)
    if user is None or user.disabled:
        raise NotFound("no such user")
    if not verify_password(user.password_hash, current):
        raise InvalidInput("current password is wrong",
                           errors=[{"field": "current_password", "message": "wrong"}])
    if not MIN_PASSWORD_LENGTH <= len(new) <= MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"password must be {MIN_PASSWORD_LENGTH}–{MAX_PASSWORD_LENGTH} characters",
                           errors=[{"field": "new_password", "message": "length"}])
    user.password_hash = hash_password(new)
    user.token_version += 1
    record(session, actor, Action.PASSWORD_CHANGE, object_id=user.username)
    return user


def new_totp_secret() -> str:
    return pyotp.random_base32(length=32)


def enrol_totp(session: Session, actor: Principal, envelope: Envelope, *, secret: str,
               code: str) -> User:
    """Give the caller's account this TOTP secret once a code from it proves the authenticator has it."""
    user = session.get(User, actor.user_id)
    if user is None or user.disabled:
        raise NotFound("no such user")
    totp = pyotp.TOTP(secret)
    matched = None
    if code.isascii() and code.isdigit() and len(code) == 6:
        now = totp.timecode(datetime.now(UTC))
        matched = next((step for step in (now - 1, now, now + 1)
                        if hmac.compare_digest(totp.generate_otp(step), code)), None)
    if matched is None:
        raise InvalidInput("the code does not match", errors=[{"field": "code", "message": "wrong"}])
    user.store_totp(envelope.seal(secret.encode(), totp_aad(user.username)))
    # The confirming code may not be replayed to sign in.
    user.totp_last_step = matched
    record(session, actor, Action.TOTP_ENROL, object_id=user.username)
    return user
