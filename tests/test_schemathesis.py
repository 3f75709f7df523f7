"""Property-based fuzzing of the whole HTTP API with schemathesis (v4) against the app's own OpenAPI schema.

Every operation is called with generated valid and invalid input as users of several roles, with every
schemathesis check enabled (ignored_auth included): no server error, no response the schema does not
document. The example budget is fixed so a run stays well under a minute per database.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from sqlalchemy import select

from app.config import Settings
from app.main import create_app
from app.parties.service import ensure_court
from app.reference.service import ensure_shipped_paragraphs
from app.runtime import Runtime
from app.users.models import User
from tests.support.database import DatabaseFactory
from tests.support.factories import ADMIN, USERS, make_party, make_user, notice_document

EXAMPLES = int(os.environ.get("ARX_FUZZ_EXAMPLES", "12"))
ROLES = ("fra_fp", "icc_inv", "fra_auditor")
# Generated cases take turns: each role sees a share of every operation's examples.
_ROLE_CYCLE = itertools.cycle(ROLES)

# The schema cannot say which party codes are registered or which Paris paragraphs are loaded, so
# schema-valid input can still be refused as invalid (422) by the service: acceptable for valid data.
CONFIG = SchemathesisConfig.from_dict({
    "generation": {"max-examples": EXAMPLES},
    "checks": {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]},
        # A generated body over the size limit is refused before it is parsed: 413 is a rejection.
        "negative_data_rejection": {
            "expected-statuses": ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422",
                                  "428", "429"]},
    },
})


@pytest.fixture(scope="module")
def fuzz_runtime(databases: DatabaseFactory, keyring_template: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    keys = tmp_path_factory.mktemp("fuzz") / "keys"
    shutil.copytree(keyring_template, keys)
    os.chmod(keys, 0o700)
    settings_ = Settings(database_url=databases.clone(), keys_dir=keys, expose_docs=True,
                         keyring_poll_seconds=0.2, audit_seal_interval_seconds=0.2,
                         # The fuzzer is one client hammering every route: keep it under the limits.
                         search_rate_per_minute=100_000, write_rate_per_minute=100_000,
                         ip_rate_per_minute=100_000, token_ip_rate_per_minute=100_000)
    rt = Runtime.build(settings_)
    with rt.db.unit_of_work() as session:
        ensure_court(session, ADMIN)
        ensure_shipped_paragraphs(session, ADMIN)
    for code in ("FRA", "NLD", "DEU"):
        make_party(rt, code=code)
    for username, (party, role) in USERS.items():
        make_user(rt, username=username, party=party, role=role)
    yield rt
    rt.close()


class DeferredApp:
    """The ASGI app schemathesis calls: forwards to the real app, which the module fixture builds over a
    migrated database (schemathesis parametrizes at collection time, before any fixture exists)."""

    target: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.target is not None, "fuzz_app fixture not active"
        await self.target(scope, receive, send)


def _published_schema() -> dict[str, Any]:
    """The schema the app publishes with docs exposed (building it touches no database)."""
    runtime = Runtime.build(Settings(database_url="sqlite://", keys_dir=Path("/nonexistent"),
                                     expose_docs=True))
    try:
        return create_app(runtime=runtime).openapi()
    finally:
        runtime.close()


APP = DeferredApp()
schema = schemathesis.openapi.from_dict(_published_schema(), config=CONFIG)
schema.app = APP  # requests go to the app in-process (schemathesis' ASGI transport)


@pytest.fixture(scope="module")
def fuzz_app(fuzz_runtime: Runtime) -> Iterator[Any]:
    app = create_app(runtime=fuzz_runtime)
    assert app.openapi() == schema.raw_schema, "the fuzzed schema is the one the app serves"
    APP.target = app
    yield app
    APP.target = None


def token_for(runtime: Runtime, username: str) -> str:
    """A fresh token (minted directly: a fuzzed logout revokes whatever token it was given)."""
    with runtime.db.unit_of_work() as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        token, _ = runtime.tokens.issue(username=user.username, party=user.party_code, role=user.role,
                                        token_version=user.token_version)
    return token


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema_for_every_role(case: Any, fuzz_runtime: Runtime, fuzz_app: Any) -> None:
    """No 5xx, no undocumented status, content type, header or body, auth enforced, for each role."""
    username = next(_ROLE_CYCLE)
    case.call_and_validate(headers={"Authorization": f"Bearer {token_for(fuzz_runtime, username)}"})


def test_fuzz_world_is_usable(fuzz_runtime: Runtime) -> None:
    """The fuzzed world has real users and real notices, so valid requests reach real code paths."""
    from starlette.testclient import TestClient

    with TestClient(create_app(runtime=fuzz_runtime), base_url="https://testserver") as client:
        headers = {"Authorization": f"Bearer {token_for(fuzz_runtime, 'fra_fp')}"}
        created = client.post("/api/v1/notices", json=notice_document(), headers=headers)
        assert created.status_code == 201, created.text
        assert client.get("/openapi.json").status_code == 200
