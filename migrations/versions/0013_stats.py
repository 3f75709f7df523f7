"""Statistics: running aggregates of notices and their assets (stat_cell).

Existing notices are not counted until `arx stats rebuild` opens their current revisions (a migration
holds no keys).

Revision ID: 0013_stats
Revises: 0012_keys
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_stats"
down_revision: str | None = "0012_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stat_cell",
        sa.Column("subject", sa.String(length=8), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("party", sa.String(length=8), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("value", sa.String(length=48), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("notices", sa.Integer(), nullable=False),
        sa.Column("amount_units", sa.BigInteger(), nullable=False),
        sa.Column("amount_fraction", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("subject", "dimension", "party", "month", "value", "currency",
                                name=op.f("pk_stat_cell")),
    )


def downgrade() -> None:
    op.drop_table("stat_cell")
