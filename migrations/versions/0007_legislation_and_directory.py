"""Legislation database (profiles, revisions, filters, full-text index) and the focal-point directory.

The full-text index is dialect-specific and lives only here (app/legislation/models.py says why):
SQLite gets an FTS5 table over the Python-computed tokens, kept in step by triggers; PostgreSQL a GIN
index over to_tsvector('simple', search_tokens). migrations/env.py keeps both out of `alembic check`.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('contact',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('party', sa.String(length=8), nullable=False),
    sa.Column('areas', sa.String(length=200), nullable=False),
    sa.Column('languages', sa.String(length=200), nullable=False),
    sa.Column('availability', sa.String(length=16), nullable=False),
    sa.Column('deputy_of', sa.String(length=36), nullable=True),
    sa.Column('current_revision', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(), nullable=False),
    sa.Column('retired_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['deputy_of'], ['contact.id'], name=op.f('fk_contact_deputy_of_contact')),
    sa.ForeignKeyConstraint(['party'], ['party.code'], name=op.f('fk_contact_party_party')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact'))
    )
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_confirmed_at'), ['confirmed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_contact_party'), ['party'], unique=False)

    op.create_table('legislation_profile',
    sa.Column('party', sa.String(length=8), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('search_tokens', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['party'], ['party.code'], name=op.f('fk_legislation_profile_party_party')),
    sa.PrimaryKeyConstraint('party', name=op.f('pk_legislation_profile'))
    )
    with op.batch_alter_table('legislation_profile', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_legislation_profile_updated_at'), ['updated_at'], unique=False)

    op.create_table('legislation_revision',
    sa.Column('party', sa.String(length=8), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('author', sa.String(length=64), nullable=False),
    sa.Column('author_party', sa.String(length=8), nullable=False),
    sa.Column('changes', sa.Text(), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['party'], ['party.code'], name=op.f('fk_legislation_revision_party_party')),
    sa.PrimaryKeyConstraint('party', 'revision', name=op.f('pk_legislation_revision'))
    )
    op.create_table('contact_reminder',
    sa.Column('contact_id', sa.String(length=36), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_contact_reminder_contact_id_contact')),
    sa.PrimaryKeyConstraint('contact_id', 'confirmed_at', name=op.f('pk_contact_reminder'))
    )
    op.create_table('contact_revision',
    sa.Column('contact_id', sa.String(length=36), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('author', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
    sa.Column('nonce', sa.LargeBinary(), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_contact_revision_contact_id_contact')),
    sa.PrimaryKeyConstraint('contact_id', 'revision', name=op.f('pk_contact_revision'))
    )
    with op.batch_alter_table('contact_revision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_revision_key_version'), ['key_version'], unique=False)

    op.create_table('legislation_language',
    sa.Column('party', sa.String(length=8), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.ForeignKeyConstraint(['party'], ['legislation_profile.party'], name=op.f('fk_legislation_language_party_legislation_profile')),
    sa.PrimaryKeyConstraint('party', 'language', name=op.f('pk_legislation_language'))
    )
    with op.batch_alter_table('legislation_language', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_legislation_language_language'), ['language'], unique=False)

    op.create_table('legislation_measure',
    sa.Column('party', sa.String(length=8), nullable=False),
    sa.Column('measure', sa.String(length=40), nullable=False),
    sa.Column('available', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['party'], ['legislation_profile.party'], name=op.f('fk_legislation_measure_party_legislation_profile')),
    sa.PrimaryKeyConstraint('party', 'measure', name=op.f('pk_legislation_measure'))
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_legislation_profile_tsv ON legislation_profile "
                   "USING gin (to_tsvector('simple', search_tokens))")
    else:
        op.execute("CREATE VIRTUAL TABLE legislation_fts USING fts5(party UNINDEXED, tokens, "
                   "tokenize = 'unicode61 remove_diacritics 0')")
        op.execute("CREATE TRIGGER legislation_fts_insert AFTER INSERT ON legislation_profile BEGIN "
                   "INSERT INTO legislation_fts (party, tokens) VALUES (new.party, new.search_tokens); END")
        op.execute("CREATE TRIGGER legislation_fts_update AFTER UPDATE OF search_tokens ON "
                   "legislation_profile BEGIN DELETE FROM legislation_fts WHERE party = old.party; "
                   "INSERT INTO legislation_fts (party, tokens) VALUES (new.party, new.search_tokens); END")
        op.execute("CREATE TRIGGER legislation_fts_delete AFTER DELETE ON legislation_profile BEGIN "
                   "DELETE FROM legislation_fts WHERE party = old.party; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_legislation_profile_tsv")
    else:
        for trigger in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER legislation_fts_{trigger}")
        op.execute("DROP TABLE legislation_fts")
    op.drop_table('legislation_measure')
    with op.batch_alter_table('legislation_language', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_legislation_language_language'))

    op.drop_table('legislation_language')
    with op.batch_alter_table('contact_revision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_revision_key_version'))

    op.drop_table('contact_revision')
    op.drop_table('contact_reminder')
    op.drop_table('legislation_revision')
    with op.batch_alter_table('legislation_profile', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_legislation_profile_updated_at'))

    op.drop_table('legislation_profile')
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_party'))
        batch_op.drop_index(batch_op.f('ix_contact_confirmed_at'))

    op.drop_table('contact')
