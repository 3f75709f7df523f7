"""Search: index rows of a term in (notice, subject) order, with their revision.

ix_subject_term_lookup was (key_version, term). Search and matching read at most a budget of a term's
rows, first by (notice, subject); with only the term in the index, every row of a common term was read
and sorted to find them. Ordered by (key_version, term, notice_id, subject_no) and carrying revision for
the join to the current revision, the index gives those rows in order and the reading stops at the
budget (PostgreSQL: an index-only scan when the visibility map allows).

Revision ID: 0015_term_order
Revises: 0014_visible
Create Date: 2026-12-07
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0015_term_order"
down_revision: str | None = "0014_visible"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORDERED = ["key_version", "term", "notice_id", "subject_no", "revision"]


def upgrade() -> None:
    op.drop_index("ix_subject_term_lookup", table_name="subject_term")
    op.create_index("ix_subject_term_lookup", "subject_term", ORDERED)


def downgrade() -> None:
    op.drop_index("ix_subject_term_lookup", table_name="subject_term")
    op.create_index("ix_subject_term_lookup", "subject_term", ["key_version", "term"])
