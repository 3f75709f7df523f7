"""Focal-point contacts. Names, e-mails and phones (with function, unit and time zone) are sealed in
append-only revisions; only what filters and the confirmation clock need is in clear."""

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.crypto.columns import SealedColumns
from app.db import Base, UTCDateTime, utcnow


class Contact(Base):
    __tablename__ = "contact"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    party: Mapped[str] = mapped_column(ForeignKey("party.code"), index=True)
    # Comma-framed code lists (",asset_recovery,general,"): one LIKE filter, the same on both databases.
    areas: Mapped[str] = mapped_column(String(200))
    languages: Mapped[str] = mapped_column(String(200))
    availability: Mapped[str] = mapped_column(String(16))
    deputy_of: Mapped[str | None] = mapped_column(ForeignKey("contact.id"), default=None)
    current_revision: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class ContactRevision(SealedColumns, Base):
    """One immutable version of a contact's personal data, envelope-encrypted and bound to its row."""

    __tablename__ = "contact_revision"

    contact_id: Mapped[str] = mapped_column(ForeignKey("contact.id"), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    author: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ContactReminder(Base):
    """A stale-contact reminder sent for one confirmation date: the job never sends it twice."""

    __tablename__ = "contact_reminder"

    contact_id: Mapped[str] = mapped_column(ForeignKey("contact.id"), primary_key=True)
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
