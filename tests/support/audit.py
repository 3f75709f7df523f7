"""What an insider with database access does to the audit tables."""

from __future__ import annotations

from sqlalchemy import Connection


def drop_triggers(conn: Connection) -> None:
    """What an insider with database access does first: remove the append-only triggers."""
    for table in ("audit_entry", "audit_leaf", "audit_checkpoint"):
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        else:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_update")
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_delete")
