"""Alembic environment: runs migrations against the URL given by app.db.alembic_config or ARX_DATABASE_URL."""

import os
from logging.config import fileConfig

from alembic import context

import app.models  # noqa: F401  (registers every table on Base.metadata)
from app.db import Base, Timeouts, make_engine

config = context.config
if config.config_file_name and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name)

target_metadata = Base.metadata

# Dialect-specific full-text structures that only migrations create (0007): not model drift.
MIGRATION_ONLY = ("legislation_fts", "ix_legislation_profile_tsv")


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    return not (name or "").startswith(MIGRATION_ONLY)


def database_url() -> str:
    explicit = config.attributes.get("url")
    if explicit:
        return explicit
    if not config.attributes.get("configure_logger", True):
        return config.get_main_option("sqlalchemy.url")
    return os.environ.get("ARX_DATABASE_URL") or config.get_main_option("sqlalchemy.url")


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True,
                      include_name=include_name,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                          include_name=include_name)
        with context.begin_transaction():
            context.run_migrations()
        return
    # No statement timeout (0): building an index over a million subjects' terms takes minutes, and the
    # request-sized default would cancel it.
    engine = make_engine(database_url(), Timeouts(statement_seconds=0))
    try:
        with engine.connect() as conn:
            context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True,
                              include_name=include_name)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
