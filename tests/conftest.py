"""Fixtures only (shared helpers are in tests/support/): a real, migrated database per test (SQLite file
or PostgreSQL), real keys, real HTTP.

ARX_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test selects PostgreSQL: the suite
migrates a throw-away template database once and clones it for each test (CREATE DATABASE … TEMPLATE),
dropping everything at the end. Without it, SQLite files in a temporary directory are used the same way.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.config import Settings
from app.crypto.keyring import FileKeyProvider
from app.main import create_app
from app.parties.service import ensure_court
from app.reference.service import ensure_shipped_paragraphs
from app.requests.service import ensure_shipped_obstacles
from app.runtime import Runtime
from tests.support.database import DatabaseFactory
from tests.support.factories import (
    ADMIN,
    USERS,
    World,
    login,
    make_party,
    make_user,
    require_problem_documents,
)


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("db"))
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def keyring_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    keys = tmp_path_factory.mktemp("keys-template") / "keys"
    FileKeyProvider(keys).create_if_absent()
    return keys


@pytest.fixture
def keys_dir(tmp_path: Path, keyring_template: Path) -> Path:
    """A private copy of a generated keyring (tests may rotate it)."""
    target = tmp_path / "keys"
    shutil.copytree(keyring_template, target)
    os.chmod(target, 0o700)
    return target


@pytest.fixture
def database_url(databases: DatabaseFactory) -> str:
    return databases.clone()


@pytest.fixture
def settings(database_url: str, keys_dir: Path) -> Settings:
    return Settings(database_url=database_url, keys_dir=keys_dir, keyring_poll_seconds=0.2,
                    audit_seal_interval_seconds=0.2)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.build(settings)
    with rt.db.unit_of_work() as session:
        ensure_court(session, ADMIN)
        ensure_shipped_paragraphs(session, ADMIN)
        ensure_shipped_obstacles(session, ADMIN)
    yield rt
    rt.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime), base_url="https://testserver") as c:
        c.event_hooks = {"request": [], "response": [require_problem_documents]}
        yield c


@pytest.fixture
def world(client: TestClient, runtime: Runtime) -> World:
    for code in ("FRA", "NLD", "DEU"):
        make_party(runtime, code=code)
    w = World(client=client, runtime=runtime)
    for username, (party, role) in USERS.items():
        make_user(runtime, username=username, party=party, role=role)
        w.tokens[username] = login(client, username)
    return w


