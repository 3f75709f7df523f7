"""Requests for cooperation: routing in clear, title/body/subjects/assets/messages envelope-encrypted."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.crypto.columns import SealedColumns
from app.db import Base, BigId, UTCDateTime, utcnow


class CooperationRequest(SealedColumns, Base):
    """One request from the requester party to the addressee party. The sealed columns hold the content
    document (title, body, legal basis, subjects, assets), bound to id, requester and addressee."""

    __tablename__ = "cooperation_request"
    __table_args__ = (
        Index("ix_cooperation_request_inbox", "addressee", "due_at", "id"),
        Index("ix_cooperation_request_outbox", "requester", "due_at", "id"),
        Index("ix_cooperation_request_open_due", "status", "due_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    requester: Mapped[str] = mapped_column(ForeignKey("party.code"))
    addressee: Mapped[str] = mapped_column(ForeignKey("party.code"))
    author_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    type: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24))
    measures: Mapped[str] = mapped_column(String(200))  # comma-joined, sorted
    paris_paragraphs: Mapped[str] = mapped_column(String(400))  # comma-joined
    tlp: Mapped[str] = mapped_column(String(16))
    obstacles: Mapped[str] = mapped_column(String(400), default="")  # of the closing transition
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    converted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # consultation → formal
    # Bumped by every change of status or type: the compare-and-set that makes one of two racing
    # transitions win.
    version: Mapped[int] = mapped_column(Integer, default=1)

    related: Mapped[list["RequestNotice"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="RequestNotice.notice_id")


class RequestNotice(Base):
    """A notice the requester linked (one it could see when it linked it)."""

    __tablename__ = "request_notice"

    request_id: Mapped[str] = mapped_column(ForeignKey("cooperation_request.id"), primary_key=True)
    notice_id: Mapped[str] = mapped_column(ForeignKey("notice.id"), primary_key=True, index=True)


class RequestMessage(SealedColumns, Base):
    """One message of a request's thread; its body sealed, bound to the request, the message id and the
    author party."""

    __tablename__ = "request_message"
    __table_args__ = (Index("ix_request_message_thread", "request_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("cooperation_request.id"))
    author_party: Mapped[str] = mapped_column(ForeignKey("party.code"))
    author_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RequestTransition(Base):
    """One change of status (or the conversion to formal): who, when, from, to, obstacle codes."""

    __tablename__ = "request_transition"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("cooperation_request.id"), index=True)
    from_status: Mapped[str] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    party: Mapped[str] = mapped_column(ForeignKey("party.code"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    obstacles: Mapped[str] = mapped_column(String(400), default="")
    message_id: Mapped[str | None] = mapped_column(ForeignKey("request_message.id"))  # its note
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Obstacle(Base):
    """Reference vocabulary of obstacles to executing a request (shipped as data, loadable)."""

    __tablename__ = "obstacle"

    code: Mapped[str] = mapped_column(String(48), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    label_fr: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000))


class DeadlineNotice(Base):
    """That the deadline job already announced due-soon or overdue for a request: runs stay idempotent."""

    __tablename__ = "request_deadline_notice"

    request_id: Mapped[str] = mapped_column(ForeignKey("cooperation_request.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RequestSubjectTerm(Base):
    """Blind-index terms of request subjects (the notices' keyed HMACs, never plaintext)."""

    __tablename__ = "request_subject_term"
    __table_args__ = (Index("ix_request_subject_term_lookup", "key_version", "term"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("cooperation_request.id"), index=True)
    subject_no: Mapped[int] = mapped_column(Integer)
    key_version: Mapped[int] = mapped_column(Integer)
    term: Mapped[bytes] = mapped_column(LargeBinary)
