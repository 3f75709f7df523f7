"""Notice revisions' wrapped data keys move to the narrow ``notice_revision_key`` table.

A rewrap then rewrites small (notice_id, revision, key_version, wrapped_key) rows instead of whole
revision rows with their ciphertext: on PostgreSQL an UPDATE writes a new version of the entire row and
of every index entry, so the narrow table makes the rewrap's writes several times cheaper (issue 21).
Every revision's key is copied over before the columns go, so every notice stays readable; the downgrade
copies them back.

Revision ID: 0012_keys
Revises: 0008
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_keys"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notice_revision_key",
        sa.Column("notice_id", sa.String(length=36), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["notice_id", "revision"],
                                ["notice_revision.notice_id", "notice_revision.revision"],
                                name=op.f("fk_notice_revision_key_notice_id_notice_revision")),
        sa.PrimaryKeyConstraint("notice_id", "revision", name=op.f("pk_notice_revision_key")))
    op.execute("INSERT INTO notice_revision_key (notice_id, revision, key_version, wrapped_key) "
               "SELECT notice_id, revision, key_version, wrapped_key FROM notice_revision")
    op.create_index(op.f("ix_notice_revision_key_key_version"), "notice_revision_key", ["key_version"])
    op.drop_index("ix_notice_revision_key_version", table_name="notice_revision")
    # Plain ALTER TABLE … DROP COLUMN (SQLite >= 3.35 too): a batch copy of notice_revision would have
    # to drop a table that other tables reference, which SQLite's enforced foreign keys refuse.
    op.execute("ALTER TABLE notice_revision DROP COLUMN wrapped_key")
    op.execute("ALTER TABLE notice_revision DROP COLUMN key_version")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # SQLite adds a NOT NULL column only with a default; PostgreSQL gets its NOT NULL after the copy.
    op.execute("ALTER TABLE notice_revision ADD COLUMN key_version INTEGER"
               + (" NOT NULL DEFAULT 0" if sqlite else ""))
    op.execute("ALTER TABLE notice_revision ADD COLUMN wrapped_key "
               + ("BLOB NOT NULL DEFAULT x''" if sqlite else "BYTEA"))
    op.execute("UPDATE notice_revision SET "
               "key_version = (SELECT k.key_version FROM notice_revision_key k WHERE "
               "k.notice_id = notice_revision.notice_id AND k.revision = notice_revision.revision), "
               "wrapped_key = (SELECT k.wrapped_key FROM notice_revision_key k WHERE "
               "k.notice_id = notice_revision.notice_id AND k.revision = notice_revision.revision)")
    if not sqlite:
        op.execute("ALTER TABLE notice_revision ALTER COLUMN key_version SET NOT NULL, "
                   "ALTER COLUMN wrapped_key SET NOT NULL")
    op.create_index("ix_notice_revision_key_version", "notice_revision", ["key_version"])
    op.drop_index(op.f("ix_notice_revision_key_key_version"), table_name="notice_revision_key")
    op.drop_table("notice_revision_key")
