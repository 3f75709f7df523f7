"""Initial schema: parties, users, notices, reference data, blind index, audit log.

Revision ID: 0001
Revises: 
Create Date: 2026-11-24
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_checkpoint',
    sa.Column('tree_size', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('root_hash', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('tree_size', name=op.f('pk_audit_checkpoint'))
    )
    op.create_table('audit_entry',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('party', sa.String(length=8), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('action', sa.String(length=48), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('detail_key_version', sa.Integer(), nullable=True),
    sa.Column('detail_wrapped_key', sa.LargeBinary(), nullable=True),
    sa.Column('detail_nonce', sa.LargeBinary(), nullable=True),
    sa.Column('detail_ciphertext', sa.LargeBinary(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entry'))
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entry_detail_key_version'), ['detail_key_version'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entry_object_id'), ['object_id'], unique=False)

    op.create_table('index_build',
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('completed_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('key_version', name=op.f('pk_index_build'))
    )
    op.create_table('login_throttle',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(), nullable=True),
    sa.Column('last_failure_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('username', name=op.f('pk_login_throttle'))
    )
    op.create_table('paris_paragraph',
    sa.Column('number', sa.String(length=16), nullable=False),
    sa.Column('addressee', sa.String(length=200), nullable=False),
    sa.Column('gist', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('loaded_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('number', name=op.f('pk_paris_paragraph'))
    )
    op.create_table('party',
    sa.Column('code', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_party'))
    )
    op.create_table('revoked_token',
    sa.Column('jti', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('jti', name=op.f('pk_revoked_token'))
    )
    with op.batch_alter_table('revoked_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_revoked_token_expires_at'), ['expires_at'], unique=False)

    op.create_table('audit_leaf',
    sa.Column('tree_index', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('leaf_hash', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['audit_entry.id'], name=op.f('fk_audit_leaf_entry_id_audit_entry')),
    sa.PrimaryKeyConstraint('tree_index', name=op.f('pk_audit_leaf')),
    sa.UniqueConstraint('entry_id', name=op.f('uq_audit_leaf_entry_id'))
    )
    op.create_table('user_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('party_code', sa.String(length=8), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('totp_key_version', sa.Integer(), nullable=True),
    sa.Column('totp_wrapped_key', sa.LargeBinary(), nullable=True),
    sa.Column('totp_nonce', sa.LargeBinary(), nullable=True),
    sa.Column('totp_ciphertext', sa.LargeBinary(), nullable=True),
    sa.Column('totp_last_step', sa.BigInteger(), nullable=True),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('token_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['party_code'], ['party.code'], name=op.f('fk_user_account_party_code_party')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_account')),
    sa.UniqueConstraint('username', name=op.f('uq_user_account_username'))
    )
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_account_party_code'), ['party_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_user_account_totp_key_version'), ['totp_key_version'], unique=False)

    op.create_table('notice',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('author_party', sa.String(length=8), nullable=False),
    sa.Column('author_user_id', sa.Integer(), nullable=False),
    sa.Column('tlp', sa.String(length=16), nullable=False),
    sa.Column('asset_status', sa.String(length=128), nullable=False),
    sa.Column('current_revision', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_party'], ['party.code'], name=op.f('fk_notice_author_party_party')),
    sa.ForeignKeyConstraint(['author_user_id'], ['user_account.id'], name=op.f('fk_notice_author_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notice'))
    )
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_author_party'), ['author_party'], unique=False)
        batch_op.create_index('ix_notice_created_at_id', ['created_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_kind'), ['kind'], unique=False)

    op.create_table('notice_paragraph',
    sa.Column('notice_id', sa.String(length=36), nullable=False),
    sa.Column('paragraph', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['notice_id'], ['notice.id'], name=op.f('fk_notice_paragraph_notice_id_notice')),
    sa.ForeignKeyConstraint(['paragraph'], ['paris_paragraph.number'], name=op.f('fk_notice_paragraph_paragraph_paris_paragraph')),
    sa.PrimaryKeyConstraint('notice_id', 'paragraph', name=op.f('pk_notice_paragraph'))
    )
    with op.batch_alter_table('notice_paragraph', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_paragraph_paragraph'), ['paragraph'], unique=False)

    op.create_table('notice_recipient',
    sa.Column('notice_id', sa.String(length=36), nullable=False),
    sa.Column('party_code', sa.String(length=8), nullable=False),
    sa.ForeignKeyConstraint(['notice_id'], ['notice.id'], name=op.f('fk_notice_recipient_notice_id_notice')),
    sa.PrimaryKeyConstraint('notice_id', 'party_code', name=op.f('pk_notice_recipient'))
    )
    with op.batch_alter_table('notice_recipient', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_recipient_party_code'), ['party_code'], unique=False)

    op.create_table('notice_revision',
    sa.Column('notice_id', sa.String(length=36), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('author_user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
    sa.Column('nonce', sa.LargeBinary(), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['author_user_id'], ['user_account.id'], name=op.f('fk_notice_revision_author_user_id_user_account')),
    sa.ForeignKeyConstraint(['notice_id'], ['notice.id'], name=op.f('fk_notice_revision_notice_id_notice')),
    sa.PrimaryKeyConstraint('notice_id', 'revision', name=op.f('pk_notice_revision'))
    )
    with op.batch_alter_table('notice_revision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_revision_key_version'), ['key_version'], unique=False)

    op.create_table('subject_term',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('notice_id', sa.String(length=36), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('subject_no', sa.Integer(), nullable=False),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('term', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['notice_id'], ['notice.id'], name=op.f('fk_subject_term_notice_id_notice')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subject_term'))
    )
    with op.batch_alter_table('subject_term', schema=None) as batch_op:
        batch_op.create_index('ix_subject_term_lookup', ['key_version', 'term'], unique=False)
        batch_op.create_index('ix_subject_term_subject', ['notice_id', 'revision', 'subject_no'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('subject_term', schema=None) as batch_op:
        batch_op.drop_index('ix_subject_term_subject')
        batch_op.drop_index('ix_subject_term_lookup')

    op.drop_table('subject_term')
    with op.batch_alter_table('notice_revision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_revision_key_version'))

    op.drop_table('notice_revision')
    with op.batch_alter_table('notice_recipient', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_recipient_party_code'))

    op.drop_table('notice_recipient')
    with op.batch_alter_table('notice_paragraph', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_paragraph_paragraph'))

    op.drop_table('notice_paragraph')
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_kind'))
        batch_op.drop_index('ix_notice_created_at_id')
        batch_op.drop_index(batch_op.f('ix_notice_author_party'))

    op.drop_table('notice')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_account_totp_key_version'))
        batch_op.drop_index(batch_op.f('ix_user_account_party_code'))

    op.drop_table('user_account')
    op.drop_table('audit_leaf')
    with op.batch_alter_table('revoked_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_revoked_token_expires_at'))

    op.drop_table('revoked_token')
    op.drop_table('party')
    op.drop_table('paris_paragraph')
    op.drop_table('login_throttle')
    op.drop_table('index_build')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entry_object_id'))
        batch_op.drop_index(batch_op.f('ix_audit_entry_detail_key_version'))

    op.drop_table('audit_entry')
    op.drop_table('audit_checkpoint')
