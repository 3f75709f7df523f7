"""Hit/no-hit enquiries: sealed enquiries, their blind-index terms, hits and matched notices.

Revision ID: 0008
Revises: 0002
Create Date: 2026-12-01
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0008'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('enquiry',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('party_code', sa.String(length=8), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('open_until', app.db.UTCDateTime(), nullable=False),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
    sa.Column('nonce', sa.LargeBinary(), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['party_code'], ['party.code'], name=op.f('fk_enquiry_party_code_party')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_enquiry_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enquiry'))
    )
    with op.batch_alter_table('enquiry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enquiry_key_version'), ['key_version'], unique=False)
        batch_op.create_index(batch_op.f('ix_enquiry_open_until'), ['open_until'], unique=False)
        batch_op.create_index(batch_op.f('ix_enquiry_party_code'), ['party_code'], unique=False)

    op.create_table('enquiry_term',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('enquiry_id', sa.String(length=36), nullable=False),
    sa.Column('subject_no', sa.Integer(), nullable=False),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('term', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['enquiry_id'], ['enquiry.id'], name=op.f('fk_enquiry_term_enquiry_id_enquiry')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enquiry_term'))
    )
    with op.batch_alter_table('enquiry_term', schema=None) as batch_op:
        batch_op.create_index('ix_enquiry_term_lookup', ['key_version', 'term'], unique=False)
        batch_op.create_index('ix_enquiry_term_subject', ['enquiry_id', 'subject_no', 'key_version'], unique=False)

    op.create_table('hit',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('owner_party', sa.String(length=8), nullable=False),
    sa.Column('counterpart_party', sa.String(length=8), nullable=False),
    sa.Column('enquiry_id', sa.String(length=36), nullable=True),
    sa.Column('source_notice_id', sa.String(length=36), nullable=True),
    sa.Column('revealed', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('decided_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('decided_by_user_id', sa.Integer(), nullable=True),
    sa.Column('reason_key_version', sa.Integer(), nullable=True),
    sa.Column('reason_wrapped_key', sa.LargeBinary(), nullable=True),
    sa.Column('reason_nonce', sa.LargeBinary(), nullable=True),
    sa.Column('reason_ciphertext', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['counterpart_party'], ['party.code'], name=op.f('fk_hit_counterpart_party_party')),
    sa.ForeignKeyConstraint(['decided_by_user_id'], ['user_account.id'], name=op.f('fk_hit_decided_by_user_id_user_account')),
    sa.ForeignKeyConstraint(['enquiry_id'], ['enquiry.id'], name=op.f('fk_hit_enquiry_id_enquiry')),
    sa.ForeignKeyConstraint(['owner_party'], ['party.code'], name=op.f('fk_hit_owner_party_party')),
    sa.ForeignKeyConstraint(['source_notice_id'], ['notice.id'], name=op.f('fk_hit_source_notice_id_notice')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hit'))
    )
    with op.batch_alter_table('hit', schema=None) as batch_op:
        batch_op.create_index('ix_hit_counterpart', ['counterpart_party', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_hit_enquiry_id'), ['enquiry_id'], unique=False)
        batch_op.create_index('ix_hit_owner', ['owner_party', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_hit_reason_key_version'), ['reason_key_version'], unique=False)
        batch_op.create_index(batch_op.f('ix_hit_source_notice_id'), ['source_notice_id'], unique=False)

    op.create_table('hit_match',
    sa.Column('hit_id', sa.String(length=36), nullable=False),
    sa.Column('notice_id', sa.String(length=36), nullable=False),
    sa.Column('matched_on', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['hit_id'], ['hit.id'], name=op.f('fk_hit_match_hit_id_hit')),
    sa.ForeignKeyConstraint(['notice_id'], ['notice.id'], name=op.f('fk_hit_match_notice_id_notice')),
    sa.PrimaryKeyConstraint('hit_id', 'notice_id', name=op.f('pk_hit_match'))
    )
    with op.batch_alter_table('hit_match', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hit_match_notice_id'), ['notice_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('hit_match', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hit_match_notice_id'))

    op.drop_table('hit_match')
    with op.batch_alter_table('hit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hit_source_notice_id'))
        batch_op.drop_index(batch_op.f('ix_hit_reason_key_version'))
        batch_op.drop_index('ix_hit_owner')
        batch_op.drop_index(batch_op.f('ix_hit_enquiry_id'))
        batch_op.drop_index('ix_hit_counterpart')

    op.drop_table('hit')
    with op.batch_alter_table('enquiry_term', schema=None) as batch_op:
        batch_op.drop_index('ix_enquiry_term_subject')
        batch_op.drop_index('ix_enquiry_term_lookup')

    op.drop_table('enquiry_term')
    with op.batch_alter_table('enquiry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enquiry_party_code'))
        batch_op.drop_index(batch_op.f('ix_enquiry_open_until'))
        batch_op.drop_index(batch_op.f('ix_enquiry_key_version'))

    op.drop_table('enquiry')
