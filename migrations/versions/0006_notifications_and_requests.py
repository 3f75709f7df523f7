"""Notifications (in-app inbox, e-mail outbox), encrypted user e-mail; requests for cooperation.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 22:07:00.612782
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('obstacle',
    sa.Column('code', sa.String(length=48), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('label_fr', sa.String(length=200), nullable=True),
    sa.Column('description', sa.String(length=2000), nullable=True),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_obstacle'))
    )
    op.create_table('cooperation_request',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('requester', sa.String(length=8), nullable=False),
    sa.Column('addressee', sa.String(length=8), nullable=False),
    sa.Column('author_user_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('measures', sa.String(length=200), nullable=False),
    sa.Column('paris_paragraphs', sa.String(length=400), nullable=False),
    sa.Column('tlp', sa.String(length=16), nullable=False),
    sa.Column('obstacles', sa.String(length=400), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('converted_at', sa.DateTime(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
    sa.Column('nonce', sa.LargeBinary(), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['addressee'], ['party.code'], name=op.f('fk_cooperation_request_addressee_party')),
    sa.ForeignKeyConstraint(['author_user_id'], ['user_account.id'], name=op.f('fk_cooperation_request_author_user_id_user_account')),
    sa.ForeignKeyConstraint(['requester'], ['party.code'], name=op.f('fk_cooperation_request_requester_party')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cooperation_request'))
    )
    with op.batch_alter_table('cooperation_request', schema=None) as batch_op:
        batch_op.create_index('ix_cooperation_request_inbox', ['addressee', 'due_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cooperation_request_key_version'), ['key_version'], unique=False)
        batch_op.create_index('ix_cooperation_request_open_due', ['status', 'due_at'], unique=False)
        batch_op.create_index('ix_cooperation_request_outbox', ['requester', 'due_at', 'id'], unique=False)

    op.create_table('notification',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('read_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_notification_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification'))
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index('ix_notification_user_id_id', ['user_id', 'id'], unique=False)

    op.create_table('email_outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('notification_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('claimed_until', sa.DateTime(), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('failed_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['notification_id'], ['notification.id'], name=op.f('fk_email_outbox_notification_id_notification')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_outbox'))
    )
    with op.batch_alter_table('email_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_outbox_notification_id'), ['notification_id'], unique=False)
        batch_op.create_index('ix_email_outbox_pending', ['sent_at', 'failed_at', 'next_attempt_at'], unique=False)

    op.create_table('request_deadline_notice',
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['cooperation_request.id'], name=op.f('fk_request_deadline_notice_request_id_cooperation_request')),
    sa.PrimaryKeyConstraint('request_id', 'kind', name=op.f('pk_request_deadline_notice'))
    )
    op.create_table('request_message',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('author_party', sa.String(length=8), nullable=False),
    sa.Column('author_user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
    sa.Column('nonce', sa.LargeBinary(), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['author_party'], ['party.code'], name=op.f('fk_request_message_author_party_party')),
    sa.ForeignKeyConstraint(['author_user_id'], ['user_account.id'], name=op.f('fk_request_message_author_user_id_user_account')),
    sa.ForeignKeyConstraint(['request_id'], ['cooperation_request.id'], name=op.f('fk_request_message_request_id_cooperation_request')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_message'))
    )
    with op.batch_alter_table('request_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_request_message_key_version'), ['key_version'], unique=False)
        batch_op.create_index('ix_request_message_thread', ['request_id', 'created_at'], unique=False)

    op.create_table('request_notice',
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('notice_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['notice_id'], ['notice.id'], name=op.f('fk_request_notice_notice_id_notice')),
    sa.ForeignKeyConstraint(['request_id'], ['cooperation_request.id'], name=op.f('fk_request_notice_request_id_cooperation_request')),
    sa.PrimaryKeyConstraint('request_id', 'notice_id', name=op.f('pk_request_notice'))
    )
    with op.batch_alter_table('request_notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_request_notice_notice_id'), ['notice_id'], unique=False)

    op.create_table('request_subject_term',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('subject_no', sa.Integer(), nullable=False),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('term', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['cooperation_request.id'], name=op.f('fk_request_subject_term_request_id_cooperation_request')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_subject_term'))
    )
    with op.batch_alter_table('request_subject_term', schema=None) as batch_op:
        batch_op.create_index('ix_request_subject_term_lookup', ['key_version', 'term'], unique=False)
        batch_op.create_index(batch_op.f('ix_request_subject_term_request_id'), ['request_id'], unique=False)

    op.create_table('request_transition',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('from_status', sa.String(length=24), nullable=False),
    sa.Column('to_status', sa.String(length=24), nullable=False),
    sa.Column('party', sa.String(length=8), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('obstacles', sa.String(length=400), nullable=False),
    sa.Column('message_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['request_message.id'], name=op.f('fk_request_transition_message_id_request_message')),
    sa.ForeignKeyConstraint(['party'], ['party.code'], name=op.f('fk_request_transition_party_party')),
    sa.ForeignKeyConstraint(['request_id'], ['cooperation_request.id'], name=op.f('fk_request_transition_request_id_cooperation_request')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_request_transition_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_transition'))
    )
    with op.batch_alter_table('request_transition', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_request_transition_request_id'), ['request_id'], unique=False)

    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_key_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('email_wrapped_key', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('email_nonce', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('email_ciphertext', sa.LargeBinary(), nullable=True))
        batch_op.create_index(batch_op.f('ix_user_account_email_key_version'), ['email_key_version'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('request_transition', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_request_transition_request_id'))

    op.drop_table('request_transition')
    with op.batch_alter_table('request_subject_term', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_request_subject_term_request_id'))
        batch_op.drop_index('ix_request_subject_term_lookup')

    op.drop_table('request_subject_term')
    with op.batch_alter_table('request_notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_request_notice_notice_id'))

    op.drop_table('request_notice')
    with op.batch_alter_table('request_message', schema=None) as batch_op:
        batch_op.drop_index('ix_request_message_thread')
        batch_op.drop_index(batch_op.f('ix_request_message_key_version'))

    op.drop_table('request_message')
    op.drop_table('request_deadline_notice')
    with op.batch_alter_table('email_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_email_outbox_pending')
        batch_op.drop_index(batch_op.f('ix_email_outbox_notification_id'))

    op.drop_table('email_outbox')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_user_id_id')

    op.drop_table('notification')
    with op.batch_alter_table('cooperation_request', schema=None) as batch_op:
        batch_op.drop_index('ix_cooperation_request_outbox')
        batch_op.drop_index('ix_cooperation_request_open_due')
        batch_op.drop_index(batch_op.f('ix_cooperation_request_key_version'))
        batch_op.drop_index('ix_cooperation_request_inbox')

    op.drop_table('cooperation_request')
    op.drop_table('obstacle')

    op.drop_index('ix_user_account_email_key_version', table_name='user_account')
    # Plain ALTER TABLE … DROP COLUMN (SQLite >= 3.35): a batch copy of user_account would trip the
    # foreign keys that notices and audit rows hold on it.
    for column in ('email_ciphertext', 'email_nonce', 'email_wrapped_key', 'email_key_version'):
        op.execute(f'ALTER TABLE user_account DROP COLUMN {column}')
