"""Blind-index terms of notice subjects: truncated keyed HMACs, never plaintext."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, UTCDateTime, utcnow


class SubjectTerm(Base):
    __tablename__ = "subject_term"
    __table_args__ = (
        # A term's rows in (notice, subject) order, with what the join to the current revision needs:
        # search and matching read a common term's first rows from it and stop (first_rows).
        Index("ix_subject_term_lookup", "key_version", "term", "notice_id", "subject_no", "revision"),
        Index("ix_subject_term_subject", "notice_id", "revision", "subject_no"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    notice_id: Mapped[str] = mapped_column(ForeignKey("notice.id"))
    revision: Mapped[int] = mapped_column(Integer)
    subject_no: Mapped[int] = mapped_column(Integer)
    key_version: Mapped[int] = mapped_column(Integer)
    term: Mapped[bytes] = mapped_column(LargeBinary)


class IndexBuild(Base):
    """Progress of building the blind index under one index-key version (resumable reindex)."""

    __tablename__ = "index_build"

    key_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
