"""Migrated throw-away databases: a template migrated once, cloned for each test.

ARX_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test selects PostgreSQL (CREATE
DATABASE … TEMPLATE); without it, SQLite files in a temporary directory are copied the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.db import migrate

PG_URL = os.environ.get("ARX_TEST_DATABASE_URL", "")


class DatabaseFactory:
    """Clones a migrated template database for each test."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.created: list[str] = []
        self.postgres = PG_URL.startswith("postgresql")
        if self.postgres:
            self.admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
            self.template = f"arx_tpl_{uuid.uuid4().hex[:10]}"
            self._exec(f'CREATE DATABASE "{self.template}"')
            migrate(self.url_of(self.template))
        else:
            self.template_path = tmp / "template.db"
            migrate(f"sqlite:///{self.template_path}")

    def _exec(self, sql: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(sql))

    def url_of(self, name: str) -> str:
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    def empty(self) -> str:
        """A URL of a fresh, unmigrated database."""
        if self.postgres:
            name = f"arx_t_{uuid.uuid4().hex[:12]}"
            self._exec(f'CREATE DATABASE "{name}"')
            self.created.append(name)
            return self.url_of(name)
        return f"sqlite:///{self.tmp / f'{uuid.uuid4().hex}.db'}"

    def clone(self) -> str:
        """A URL of a fresh database migrated to head."""
        if self.postgres:
            name = f"arx_t_{uuid.uuid4().hex[:12]}"
            self._exec(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
            self.created.append(name)
            return self.url_of(name)
        path = self.tmp / f"{uuid.uuid4().hex}.db"
        shutil.copyfile(self.template_path, path)
        return f"sqlite:///{path}"

    def close(self) -> None:
        if self.postgres:
            for name in [*self.created, self.template]:
                self._exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.admin.dispose()


def raw_database_bytes(database_url: str, tmp_path: Path) -> bytes:
    """Every byte a thief of the database gets: the SQLite files, or a pg_dump."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
                        if p.exists())
    dump = tmp_path / "dump.sql"
    env = {**os.environ, "PGPASSWORD": url.password or ""}
    subprocess.run(["pg_dump", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U",
                    url.username or "postgres", "-f", str(dump), url.database or ""], check=True, env=env,
                   timeout=120)
    return dump.read_bytes()
