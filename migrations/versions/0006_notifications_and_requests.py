"""Notifications (in-app inbox, e-mail outbox), user e-mail addresses (encrypted); requests for cooperation.

Revision ID: 0006
Revises: 0002
Create Date: 2026-12-01 21:52:40.613897
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
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

    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_key_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('email_wrapped_key', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('email_nonce', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('email_ciphertext', sa.LargeBinary(), nullable=True))
        batch_op.create_index(batch_op.f('ix_user_account_email_key_version'), ['email_key_version'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('email_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_email_outbox_pending')
        batch_op.drop_index(batch_op.f('ix_email_outbox_notification_id'))
    op.drop_table('email_outbox')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_user_id_id')
    op.drop_table('notification')

    op.drop_index('ix_user_account_email_key_version', table_name='user_account')
    # Plain ALTER TABLE … DROP COLUMN (SQLite >= 3.35): a batch copy of user_account would trip the
    # foreign keys that notices and audit rows hold on it.
    for column in ('email_ciphertext', 'email_nonce', 'email_wrapped_key', 'email_key_version'):
        op.execute(f'ALTER TABLE user_account DROP COLUMN {column}')
