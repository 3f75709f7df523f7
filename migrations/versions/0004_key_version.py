"""Key versions the database depends on, with fingerprints, so a mismatched keyring is refused; audit
entry format 2, whose details' wrapped data keys live in audit_detail_key (rewrappable).

Revision ID: 0004
Revises: 0007
Create Date: 2026-12-01
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "key_version",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "version", name=op.f("pk_key_version")),
    )
    op.create_table(
        "audit_detail_key",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_audit_detail_key")),
    )
    op.create_index(op.f("ix_audit_detail_key_key_version"), "audit_detail_key", ["key_version"])
    # Plain ADD COLUMN on both databases (no table rebuild: the append-only triggers stay in place).
    op.add_column("audit_entry", sa.Column("entry_format", sa.SmallInteger(), server_default="1",
                                           nullable=False))
    op.add_column("audit_entry", sa.Column("detail_key_id", sa.String(length=32), nullable=True))
    op.create_index(op.f("ix_audit_entry_detail_key_id"), "audit_entry", ["detail_key_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_entry_detail_key_id"), table_name="audit_entry")
    # SQLite 3.35+ and PostgreSQL drop columns in place (a batch rebuild would lose the triggers).
    op.execute("ALTER TABLE audit_entry DROP COLUMN detail_key_id")
    op.execute("ALTER TABLE audit_entry DROP COLUMN entry_format")
    op.drop_index(op.f("ix_audit_detail_key_key_version"), table_name="audit_detail_key")
    op.drop_table("audit_detail_key")
    op.drop_table("key_version")
