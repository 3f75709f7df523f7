"""Shared fixtures: a real, migrated database per test (SQLite file or PostgreSQL), real keys, real HTTP.

ARX_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test selects PostgreSQL: the suite
migrates a throw-away template database once and clones it for each test (CREATE DATABASE … TEMPLATE),
dropping everything at the end. Without it, SQLite files in a temporary directory are used the same way.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from app.auth.principal import Principal, Role
from app.config import Settings
from app.crypto.keyring import FileKeyProvider
from app.db import migrate
from app.main import create_app
from app.parties.service import add_party, ensure_court
from app.reference.service import ensure_shipped_paragraphs
from app.requests.service import ensure_shipped_obstacles
from app.runtime import Runtime
from app.users.service import add_user

PG_URL = os.environ.get("ARX_TEST_DATABASE_URL", "")
PASSWORD = "correct horse battery staple"
ADMIN = Principal(username="cli:test", party="-", role=Role.ADMIN, request_id="test-setup")


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


def require_problem_documents(response: httpx.Response) -> None:
    """Every error the suite ever sees must be an RFC 9457 problem document (CONTRACT.md)."""
    if response.status_code >= 400:
        kind = response.headers.get("content-type", "")
        assert kind.startswith("application/problem+json"), (response.status_code, kind)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime), base_url="https://testserver") as c:
        c.event_hooks = {"request": [], "response": [require_problem_documents]}
        yield c


# -- factories ---------------------------------------------------------------------------------------
def make_party(runtime: Runtime, *, code: str, kind: str = "state", name: str | None = None) -> str:
    with runtime.db.unit_of_work() as session:
        add_party(session, ADMIN, code=code, name=name or f"Party {code}", kind=kind)
    return code


def make_user(runtime: Runtime, *, username: str, party: str, role: str, password: str = PASSWORD,
              totp: bool = False) -> str | None:
    """Create a user; returns its TOTP secret when enrolled."""
    with runtime.db.unit_of_work() as session:
        _, secret = add_user(session, ADMIN, runtime.envelope, username=username, party=party, role=role,
                             password=password, totp=totp)
    return secret


def login(client: TestClient, username: str, password: str = PASSWORD, otp: str | None = None) -> str:
    form = {"username": username, "password": password}
    if otp is not None:
        form["otp"] = otp
    response = client.post("/api/v1/auth/token", data=form)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def notice_document(**overrides: object) -> dict[str, object]:
    """A valid notice document (CONTRACT.md example), with overrides."""
    doc: dict[str, object] = {
        "kind": "frozen_asset",
        "title": "Accounts frozen under order 2026/114",
        "recipients": ["ICC"],
        "tlp": "AMBER",
        "paris_paragraphs": ["13"],
        "reference": "national case reference",
        "subjects": [{"name": "Jean-Pierre Exemple", "aliases": ["J.P. Exemple"],
                      "birth_date": "1962-11-04", "nationality": "COD",
                      "identifiers": [{"scheme": "passport", "value": "OB0123456"}]}],
        "assets": [{"type": "bank_account", "description": "Current account", "jurisdiction": "CHE",
                    "identifier": "CH9300762011623852957",
                    "value": {"amount": "1250000.00", "currency": "EUR"}, "status": "frozen",
                    "status_date": "2026-10-02", "order_reference": "2026/114"}],
        "narrative": "free text",
    }
    doc.update(overrides)
    return doc


@dataclass
class World:
    """Parties FRA, NLD, DEU and ICC with one user per role, each logged in."""

    client: TestClient
    runtime: Runtime
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return bearer(self.tokens[who])

    def post_notice(self, who: str, **overrides: object) -> dict[str, object]:
        response = self.client.post("/api/v1/notices", json=notice_document(**overrides),
                                    headers=self.headers(who))
        assert response.status_code == 201, response.text
        return response.json()


USERS = {
    "fra_fp": ("FRA", "focal_point"),
    "nld_fp": ("NLD", "focal_point"),
    "deu_fp": ("DEU", "focal_point"),
    "icc_inv": ("ICC", "court_investigator"),
    "fra_auditor": ("FRA", "auditor"),
    "icc_admin": ("ICC", "admin"),
}


@pytest.fixture
def world(client: TestClient, runtime: Runtime) -> World:
    for code in ("FRA", "NLD", "DEU"):
        make_party(runtime, code=code)
    w = World(client=client, runtime=runtime)
    for username, (party, role) in USERS.items():
        make_user(runtime, username=username, party=party, role=role)
        w.tokens[username] = login(client, username)
    return w


def assert_problem(response, status: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The response is an RFC 9457 problem document with this status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"] and "detail" in body
    return body
