"""Rate limits: ``rate_event`` becomes an UNLOGGED table (PostgreSQL).

Every rate-limited request records a hit in its own transaction (app/ratelimit.py), and a logged
table made each of those commits wait for a WAL flush: two flushes per write request on top of the
request's own. Rate-limit events are counters for the next minute, not records: an unlogged table
writes no WAL, so its commits do not wait for the disk. What that gives up, on purpose: after a crash
of the database server, or on a promoted replica (unlogged tables are not replicated), the table
starts empty, so every window starts afresh once. Login lockout, the limit that guards passwords, is
kept in ``login_failure`` (a logged table) and is not affected. SQLite keeps its limits in process
memory, so nothing changes there.

Revision ID: 0016_rate_unlogged
Revises: 0015_term_order
Create Date: 2026-12-07
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0016_rate_unlogged"
down_revision: str | None = "0015_term_order"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE rate_event SET UNLOGGED")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE rate_event SET LOGGED")
