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
from typing import Any

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
    make_party,
    make_user,
    mint_token,
    require_problem_documents,
)
from tests.support.portal import Browser, signed_in

# The suite tests behaviour, not speed: on a loaded machine an in-process request can outlast the
# service's 10 s deadline, which answers 503 by design. The tests of the deadline set their own, and
# served instances (tests/support/e2e.py) take only the ARX_ settings their test gives them.
os.environ.setdefault("ARX_REQUEST_DEADLINE_SECONDS", "60")
# Likewise connecting: CI runs both databases' suites side by side, and a PostgreSQL backend once took
# longer than the service's 3 s to start (a setup error in stop 27's CI). The outage tests set their own.
os.environ.setdefault("ARX_DATABASE_CONNECT_TIMEOUT_SECONDS", "30")


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


WORLD_PARTIES = ("FRA", "NLD", "DEU")


@pytest.fixture(scope="session")
def world_template(databases: DatabaseFactory, keyring_template: Path) -> str:
    """The `world` parties and users, built once per session into a template database.

    Creating the six users (argon2 hashes) and logging them in cost more than a second per test."""

    def build(url: str) -> None:
        rt = Runtime.build(Settings(database_url=url, keys_dir=keyring_template))
        try:
            with rt.db.unit_of_work() as session:
                ensure_court(session, ADMIN)
                ensure_shipped_paragraphs(session, ADMIN)
            for code in WORLD_PARTIES:
                make_party(rt, code=code)
            for username, (party, role) in USERS.items():
                make_user(rt, username=username, party=party, role=role)
        finally:
            rt.close()  # SQLite: closing the last connection checkpoints the WAL into the file copied

    databases.derive("world", build)
    return "world"


@pytest.fixture
def database_url(request: pytest.FixtureRequest, databases: DatabaseFactory) -> str:
    """A fresh migrated database; for a test using `world`, a clone of the world template."""
    if "world" in request.fixturenames:
        return databases.clone(request.getfixturevalue("world_template"))
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
    """Parties FRA, NLD, DEU (and ICC) with the USERS, from the world template; tokens minted directly."""
    w = World(client=client, runtime=runtime)
    for username in USERS:
        w.tokens[username] = mint_token(runtime, username)
    return w




# -- portal tests: a module defines `app` with tests.support.portal.portal_app; these sign in on it ----
@pytest.fixture
def fra(app: Any) -> Iterator[Browser]:
    yield from signed_in(app, "fra_fp")


@pytest.fixture
def nld(app: Any) -> Iterator[Browser]:
    yield from signed_in(app, "nld_fp")


@pytest.fixture
def icc(app: Any) -> Iterator[Browser]:
    yield from signed_in(app, "icc_inv")
