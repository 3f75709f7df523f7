"""Rate limits shared by every instance: events in ``rate_event``, counted by ``arx_rate_hit`` (PostgreSQL).

The function takes a transaction-level advisory lock per bucket (class 0x4152 'AR', so it cannot meet
the audit sequencer's or reindex's single-key locks), prunes the bucket's events that left the window,
and either records the hit (returns 0) or returns the seconds until the oldest event leaves the window.
One statement, one round trip, exact under concurrency. SQLite keeps its limits in process memory, so
the table exists there only to keep the schema the same on both databases.

Revision ID: 0011
Revises: 0002
Create Date: 2026-12-01
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("bucket", sa.String(length=200), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_event")),
    )
    op.create_index("ix_rate_event_bucket_at", "rate_event", ["bucket", "at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION arx_rate_hit(p_bucket text, p_rate integer, p_window double precision)
            RETURNS double precision LANGUAGE plpgsql AS $$
            DECLARE
                now_s double precision := extract(epoch FROM clock_timestamp());
                held integer;
                oldest double precision;
            BEGIN
                PERFORM pg_advisory_xact_lock(16722, hashtext(p_bucket));
                DELETE FROM rate_event WHERE bucket = p_bucket AND at <= now_s - p_window;
                SELECT count(*), min(at) INTO held, oldest FROM rate_event WHERE bucket = p_bucket;
                IF held >= p_rate THEN
                    RETURN greatest(oldest + p_window - now_s, 0.001);
                END IF;
                INSERT INTO rate_event (bucket, at) VALUES (p_bucket, now_s);
                RETURN 0;
            END $$""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION arx_rate_hit(text, integer, double precision)")
    op.drop_index("ix_rate_event_bucket_at", table_name="rate_event")
    op.drop_table("rate_event")
