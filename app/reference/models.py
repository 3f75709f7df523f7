"""Reference data: the Paris Declaration paragraphs notices are tagged with."""

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class ParisParagraph(Base):
    __tablename__ = "paris_paragraph"

    number: Mapped[str] = mapped_column(String(16), primary_key=True)
    addressee: Mapped[str] = mapped_column(String(200))
    gist: Mapped[str] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
