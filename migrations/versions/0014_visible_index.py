"""Search: a covering index for the visibility join (notice id, current revision, author party).

Counting and pre-ranking index rows join each row to its notice to keep only current revisions of notices
the caller may see; with the two columns in the index that join never reads the notice row itself
(PostgreSQL: an index-only scan; SQLite: a covering index).

Revision ID: 0014_visible
Revises: 0013_stats
Create Date: 2026-12-07
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0014_visible"
down_revision: str | None = "0013_stats"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_notice_visible", "notice", ["id", "current_revision", "author_party"])


def downgrade() -> None:
    op.drop_index("ix_notice_visible", table_name="notice")
