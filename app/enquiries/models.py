"""Enquiries (sealed subjects, purpose and legal basis), their blind-index terms, and the hits they make."""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.crypto.columns import SealedColumns
from app.db import Base, BigId, UTCDateTime, utcnow


class Enquiry(SealedColumns, Base):
    """A hit/no-hit enquiry. Only routing data is in clear; subjects, purpose and legal basis are one
    sealed document bound to this row."""

    __tablename__ = "enquiry"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    party_code: Mapped[str] = mapped_column(ForeignKey("party.code"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Standing until then: a notice posted or revised before this time that matches makes a hit.
    open_until: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class EnquiryTerm(Base):
    """Blind-index terms of an enquiry's subjects (same keys and truncation as subject_term)."""

    __tablename__ = "enquiry_term"
    __table_args__ = (Index("ix_enquiry_term_lookup", "key_version", "term"),
                      Index("ix_enquiry_term_subject", "enquiry_id", "subject_no", "key_version"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    enquiry_id: Mapped[str] = mapped_column(ForeignKey("enquiry.id"))
    subject_no: Mapped[int] = mapped_column(Integer)
    key_version: Mapped[int] = mapped_column(Integer)
    term: Mapped[bytes] = mapped_column(LargeBinary)


class Hit(Base):
    """One party's strong match(es) for one origin: an enquiry, or (deconfliction) another party's
    notice. The owner party holds the matched notices and decides; the counterpart is the enquirer.
    ``revealed`` is False when the matched notices may not reveal themselves (RED, AMBER+STRICT): the
    counterpart then never sees this hit."""

    __tablename__ = "hit"
    __table_args__ = (Index("ix_hit_owner", "owner_party", "created_at"),
                      Index("ix_hit_counterpart", "counterpart_party", "created_at"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_party: Mapped[str] = mapped_column(ForeignKey("party.code"))
    counterpart_party: Mapped[str] = mapped_column(ForeignKey("party.code"))
    enquiry_id: Mapped[str | None] = mapped_column(ForeignKey("enquiry.id"), index=True)
    source_notice_id: Mapped[str | None] = mapped_column(ForeignKey("notice.id"), index=True)
    revealed: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # The optional decline reason (free text the counterpart sees), sealed like any content.
    reason_key_version: Mapped[int | None] = mapped_column(Integer, index=True)
    reason_wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    reason_nonce: Mapped[bytes | None] = mapped_column(LargeBinary)
    reason_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)

    matches: Mapped[list["HitMatch"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="HitMatch.notice_id")


class HitMatch(Base):
    """A notice of the owner party that matched, and on what (e.g. "identifier", "name,birth_date")."""

    __tablename__ = "hit_match"

    hit_id: Mapped[str] = mapped_column(ForeignKey("hit.id"), primary_key=True)
    notice_id: Mapped[str] = mapped_column(ForeignKey("notice.id"), primary_key=True, index=True)
    matched_on: Mapped[str] = mapped_column(String(64))
