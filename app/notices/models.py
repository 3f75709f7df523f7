"""Notices and their immutable, encrypted revisions. Only routing and access-control data is in clear."""

from datetime import datetime

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.crypto.envelope import Sealed
from app.db import Base, UTCDateTime, utcnow

BROADCAST = "*"


class Notice(Base):
    __tablename__ = "notice"
    # ix_notice_visible covers the join search makes from every index row to its notice (current
    # revision, author party): the notice row itself is never read there.
    __table_args__ = (Index("ix_notice_created_at_id", "created_at", "id"),
                      Index("ix_notice_visible", "id", "current_revision", "author_party"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    author_party: Mapped[str] = mapped_column(ForeignKey("party.code"), index=True)
    author_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    tlp: Mapped[str] = mapped_column(String(16))
    # Distinct asset statuses of the current revision, comma-joined (routing summary, no identifiers).
    asset_status: Mapped[str] = mapped_column(String(128), default="")
    current_revision: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    recipients: Mapped[list["NoticeRecipient"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="NoticeRecipient.party_code")
    paragraphs: Mapped[list["NoticeParagraph"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="NoticeParagraph.paragraph")


class NoticeRecipient(Base):
    """A party the current revision is shared with; ``*`` means every party."""

    __tablename__ = "notice_recipient"

    notice_id: Mapped[str] = mapped_column(ForeignKey("notice.id"), primary_key=True)
    party_code: Mapped[str] = mapped_column(String(8), primary_key=True, index=True)


class NoticeParagraph(Base):
    """A Paris Declaration paragraph the current revision is tagged with."""

    __tablename__ = "notice_paragraph"

    notice_id: Mapped[str] = mapped_column(ForeignKey("notice.id"), primary_key=True)
    paragraph: Mapped[str] = mapped_column(ForeignKey("paris_paragraph.number"), primary_key=True,
                                           index=True)


class NoticeRevision(Base):
    """One immutable revision: the whole notice document, envelope-encrypted, with the routing it
    had (TLP and recipients in clear), so that each revision is shown only to whom it was shared.

    Its wrapped data key lives in the narrow ``notice_revision_key`` row (``key``): a rewrap rewrites
    those small rows only, never the revision's ciphertext row."""

    __tablename__ = "notice_revision"

    notice_id: Mapped[str] = mapped_column(ForeignKey("notice.id"), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    author_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    tlp: Mapped[str] = mapped_column(String(16))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)

    # Loaded with the revision in the same statement (an inner join: every revision has its key).
    key: Mapped["NoticeRevisionKey"] = relationship(lazy="joined", innerjoin=True,
                                                    cascade="all, delete-orphan")
    recipients: Mapped[list["NoticeRevisionRecipient"]] = relationship(
        cascade="all, delete-orphan", order_by="NoticeRevisionRecipient.party_code")

    def sealed(self) -> Sealed:
        return Sealed(self.key.key_version, self.key.wrapped_key, self.nonce, self.ciphertext)

    def store(self, sealed: Sealed) -> None:
        self.key = NoticeRevisionKey(key_version=sealed.key_version, wrapped_key=sealed.wrapped_key)
        self.nonce = sealed.nonce
        self.ciphertext = sealed.ciphertext


class NoticeRevisionKey(Base):
    """The KEK version and wrapped data key of one revision (bound to it by the associated data)."""

    __tablename__ = "notice_revision_key"
    __table_args__ = (ForeignKeyConstraint(["notice_id", "revision"],
                                           ["notice_revision.notice_id", "notice_revision.revision"]),)

    notice_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_version: Mapped[int] = mapped_column(Integer, index=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)


class NoticeRevisionRecipient(Base):
    """A party one revision was shared with, as that revision stood; ``*`` means every party."""

    __tablename__ = "notice_revision_recipient"
    __table_args__ = (ForeignKeyConstraint(["notice_id", "revision"],
                                           ["notice_revision.notice_id", "notice_revision.revision"]),)

    notice_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    party_code: Mapped[str] = mapped_column(String(8), primary_key=True, index=True)
