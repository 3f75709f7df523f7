"""User accounts, login throttling and revoked tokens."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.crypto.envelope import Sealed
from app.db import Base, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    party_code: Mapped[str] = mapped_column(ForeignKey("party.code"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(200))
    # TOTP secret, envelope-encrypted like notice content (NULL when the user has no TOTP).
    totp_key_version: Mapped[int | None] = mapped_column(Integer, index=True)
    totp_wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_nonce: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Last accepted TOTP time step: a code is accepted once (replay protection).
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # E-mail address for notifications, envelope-encrypted like other personal data (NULL: none).
    email_key_version: Mapped[int | None] = mapped_column(Integer, index=True)
    email_wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    email_nonce: Mapped[bytes | None] = mapped_column(LargeBinary)
    email_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    disabled: Mapped[bool] = mapped_column(default=False)
    # Bumped on disable / role or party change: tokens carrying an older value die at once.
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def totp_sealed(self) -> Sealed | None:
        if self.totp_key_version is None:
            return None
        assert self.totp_wrapped_key and self.totp_nonce and self.totp_ciphertext
        return Sealed(self.totp_key_version, self.totp_wrapped_key, self.totp_nonce, self.totp_ciphertext)

    def store_totp(self, sealed: Sealed | None) -> None:
        if sealed is None:
            self.totp_key_version = self.totp_wrapped_key = self.totp_nonce = self.totp_ciphertext = None
            return
        self.totp_key_version = sealed.key_version
        self.totp_wrapped_key = sealed.wrapped_key
        self.totp_nonce = sealed.nonce
        self.totp_ciphertext = sealed.ciphertext

    def email_sealed(self) -> Sealed | None:
        if self.email_key_version is None:
            return None
        assert self.email_wrapped_key and self.email_nonce and self.email_ciphertext
        return Sealed(self.email_key_version, self.email_wrapped_key, self.email_nonce,
                      self.email_ciphertext)

    def store_email(self, sealed: Sealed | None) -> None:
        self.email_key_version = sealed.key_version if sealed else None
        self.email_wrapped_key = sealed.wrapped_key if sealed else None
        self.email_nonce = sealed.nonce if sealed else None
        self.email_ciphertext = sealed.ciphertext if sealed else None


class LoginThrottle(Base):
    """Failed-login state per *attempted* username, known or not, so lockouts reveal no account."""

    __tablename__ = "login_throttle"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RevokedToken(Base):
    """A logged-out token's id, kept until the token would have expired anyway."""

    __tablename__ = "revoked_token"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
