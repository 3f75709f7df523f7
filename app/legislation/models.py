"""Legal profiles: the current document per State, its append-only revisions, and filter columns.

Legislation is public law, not secret: documents are stored in clear (JSON text). The search token
column feeds SQLite FTS5 (table ``legislation_fts``, kept in step by triggers) or a PostgreSQL GIN
index over ``to_tsvector('simple', search_tokens)``; both are created by migration 0007 only.
"""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow

FTS_TABLE = "legislation_fts"
TSV_INDEX = "ix_legislation_profile_tsv"


class LegislationProfile(Base):
    """The current profile of one State (a copy of its latest revision, plus its search tokens)."""

    __tablename__ = "legislation_profile"

    party: Mapped[str] = mapped_column(ForeignKey("party.code"), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(2))
    document: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)  # copied out of document: search results list it
    search_tokens: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class LegislationRevision(Base):
    """One immutable revision: who wrote it, when, which fields changed, and the whole document."""

    __tablename__ = "legislation_revision"

    party: Mapped[str] = mapped_column(ForeignKey("party.code"), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    author: Mapped[str] = mapped_column(String(64))
    author_party: Mapped[str] = mapped_column(String(8))
    changes: Mapped[str] = mapped_column(Text)
    document: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LegislationMeasure(Base):
    """Whether a measure is available under the current profile (structured filter)."""

    __tablename__ = "legislation_measure"

    party: Mapped[str] = mapped_column(ForeignKey("legislation_profile.party"), primary_key=True)
    measure: Mapped[str] = mapped_column(String(40), primary_key=True)
    available: Mapped[bool] = mapped_column(Boolean)


class LegislationLanguage(Base):
    """A language the State accepts requests in (structured filter)."""

    __tablename__ = "legislation_language"

    party: Mapped[str] = mapped_column(ForeignKey("legislation_profile.party"), primary_key=True)
    language: Mapped[str] = mapped_column(String(2), primary_key=True, index=True)
