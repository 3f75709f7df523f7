"""Portal sessions: server-side sign-in sessions of the web portal (ids stored hashed).

Revision ID: 0005
Revises: 0011
Create Date: 2026-12-01
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "portal_session",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("pending_totp_key_version", sa.Integer(), nullable=True),
        sa.Column("pending_totp_wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("pending_totp_nonce", sa.LargeBinary(), nullable=True),
        sa.Column("pending_totp_ciphertext", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE",
                                name=op.f("fk_portal_session_user_id_user_account")),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_portal_session")),
    )
    with op.batch_alter_table("portal_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_session_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_portal_session_last_seen_at"), ["last_seen_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("portal_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_session_last_seen_at"))
        batch_op.drop_index(batch_op.f("ix_portal_session_user_id"))
    op.drop_table("portal_session")
