"""Portal sign-in sessions, kept server-side: the browser holds only a random id, stored here hashed."""

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.crypto.envelope import Sealed
from app.db import Base, UTCDateTime


class PortalSession(Base):
    __tablename__ = "portal_session"

    # SHA-256 of the cookie value: a dump of this table lets nobody take a session over.
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    # The account's token_version when signed in: disabling it or changing its password ends sessions.
    token_version: Mapped[int] = mapped_column(Integer)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # A TOTP secret offered for enrolment, sealed, until a code confirms it (then it moves to the user).
    pending_totp_key_version: Mapped[int | None] = mapped_column(Integer)
    pending_totp_wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    pending_totp_nonce: Mapped[bytes | None] = mapped_column(LargeBinary)
    pending_totp_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)

    def pending_totp(self) -> Sealed | None:
        if self.pending_totp_key_version is None:
            return None
        assert self.pending_totp_wrapped_key and self.pending_totp_nonce
        assert self.pending_totp_ciphertext
        return Sealed(self.pending_totp_key_version, self.pending_totp_wrapped_key,
                      self.pending_totp_nonce, self.pending_totp_ciphertext)

    def store_pending_totp(self, sealed: Sealed | None) -> None:
        self.pending_totp_key_version = sealed.key_version if sealed else None
        self.pending_totp_wrapped_key = sealed.wrapped_key if sealed else None
        self.pending_totp_nonce = sealed.nonce if sealed else None
        self.pending_totp_ciphertext = sealed.ciphertext if sealed else None
