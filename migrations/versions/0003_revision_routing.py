"""Each notice revision keeps the routing it was written with: its TLP and its recipients.

Revision history used to be shown under the notice's current routing, so a revision first posted RED to
the Court and later widened to CLEAR for "*" showed its first, restricted text to every party. From now
on each revision is shown only to parties it was shared with when it was written (policy.visible_revisions).

Backfill: existing revisions get the notice's *current* TLP and recipients. A revision's own routing is
also inside its sealed document, but a migration is static and keyless (it runs as plain SQL, possibly by
a DBA without the keyring), so it cannot read it. The current routing is what every existing revision was
shown under until now, so the backfill neither reveals anything new to anyone nor takes away access a
party already had; it only stops widening from here on. (A more restrictive guess, e.g. author only,
would hide history from the very parties a notice is addressed to.) Revisions written after this
migration carry their true routing.

Revision ID: 0003
Revises: 0011
Create Date: 2026-12-01
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notice_revision", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tlp", sa.String(length=16), nullable=True))
    op.execute("UPDATE notice_revision SET tlp = (SELECT notice.tlp FROM notice "
               "WHERE notice.id = notice_revision.notice_id)")
    with op.batch_alter_table("notice_revision", schema=None) as batch_op:
        batch_op.alter_column("tlp", existing_type=sa.String(length=16), nullable=False)

    op.create_table(
        "notice_revision_recipient",
        sa.Column("notice_id", sa.String(length=36), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("party_code", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(["notice_id", "revision"],
                                ["notice_revision.notice_id", "notice_revision.revision"],
                                name=op.f("fk_notice_revision_recipient_notice_id_notice_revision")),
        sa.PrimaryKeyConstraint("notice_id", "revision", "party_code",
                                name=op.f("pk_notice_revision_recipient")),
    )
    with op.batch_alter_table("notice_revision_recipient", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_revision_recipient_party_code"), ["party_code"],
                              unique=False)
    op.execute("INSERT INTO notice_revision_recipient (notice_id, revision, party_code) "
               "SELECT r.notice_id, r.revision, c.party_code FROM notice_revision AS r "
               "JOIN notice_recipient AS c ON c.notice_id = r.notice_id")


def downgrade() -> None:
    with op.batch_alter_table("notice_revision_recipient", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_revision_recipient_party_code"))
    op.drop_table("notice_revision_recipient")
    with op.batch_alter_table("notice_revision", schema=None) as batch_op:
        batch_op.drop_column("tlp")
