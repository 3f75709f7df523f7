"""An app shared by a whole test module (for modules that make many requests against one state)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.parties.service import ensure_court
from app.reference.service import ensure_shipped_paragraphs
from app.requests.service import ensure_shipped_obstacles
from app.runtime import Runtime
from tests.support.database import DatabaseFactory
from tests.support.factories import ADMIN


@contextmanager
def serve(databases: DatabaseFactory, keyring_template: Path, tmp: Path) -> Iterator[tuple[Runtime,
                                                                                          TestClient]]:
    """A migrated database, a private keyring and the real app, shared by a whole test module.

    Server exceptions are not re-raised: a 5xx must show up as a status the tests can assert on.
    """
    keys = tmp / "keys"
    shutil.copytree(keyring_template, keys)
    os.chmod(keys, 0o700)
    # The per-address login limit is not under test here; these modules log in many times.
    settings = Settings(database_url=databases.clone(), keys_dir=keys, keyring_poll_seconds=0.2,
                        audit_seal_interval_seconds=0.2, token_ip_rate_per_minute=100_000)
    runtime = Runtime.build(settings)
    with runtime.db.unit_of_work() as session:
        ensure_court(session, ADMIN)
        ensure_shipped_paragraphs(session, ADMIN)
        ensure_shipped_obstacles(session, ADMIN)
    try:
        with TestClient(create_app(runtime=runtime), base_url="https://testserver",
                        raise_server_exceptions=False) as client:
            yield runtime, client
    finally:
        runtime.close()
