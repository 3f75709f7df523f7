"""Audit entries, their positions in the Merkle tree, and signed checkpoints. Append-only."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, UTCDateTime, utcnow


class AuditEntry(Base):
    """Who did what to which object, written in the same transaction as the action."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    username: Mapped[str] = mapped_column(String(64))
    party: Mapped[str] = mapped_column(String(8))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(48))
    object_id: Mapped[str | None] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str] = mapped_column(String(64))
    # Optional envelope-encrypted detail (e.g. a search query): never stored in clear.
    detail_key_version: Mapped[int | None] = mapped_column(Integer, index=True)
    detail_wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    detail_nonce: Mapped[bytes | None] = mapped_column(LargeBinary)
    detail_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Canonical form (app/audit/canonical.py): 1 covers the wrapped data key kept in this row; 2 covers
    # only the id of the detail's data key, whose wrapped form lives in audit_detail_key (rewrappable).
    entry_format: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")
    detail_key_id: Mapped[str | None] = mapped_column(String(32), index=True)


class AuditDetailKey(Base):
    """The wrapped data key of a (format 2) audit detail: rewrap may update it, the leaf never covers it."""

    __tablename__ = "audit_detail_key"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_version: Mapped[int] = mapped_column(Integer, index=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)


class AuditLeaf(Base):
    """The tree position the sequencer gave a committed entry (contiguous from 0)."""

    __tablename__ = "audit_leaf"

    tree_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry_id: Mapped[int] = mapped_column(ForeignKey("audit_entry.id"), unique=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary)


class AuditCheckpoint(Base):
    """A signed tree head, as a C2SP signed note."""

    __tablename__ = "audit_checkpoint"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    key_version: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text)
