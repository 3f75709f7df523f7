"""Every query parameter of every route, fuzzed with the values that used to answer 500 (issue 11,
item 3): naive and date-only timestamps, instants UTC cannot hold, NUL bytes, forged cursors. On SQLite
and PostgreSQL alike, no response is a server error, and each of these is a 422 naming its parameter.

Routes and parameters are enumerated from the app's own OpenAPI description, so routes added later are
fuzzed by this test without touching it."""

from __future__ import annotations

import base64
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.parties.service import ensure_court
from app.reference.service import ensure_shipped_paragraphs
from app.runtime import Runtime
from app.users.models import User
from tests.support.database import DatabaseFactory
from tests.support.factories import ADMIN, make_party, make_user, notice_document

EXAMPLES = int(os.environ.get("ARX_FUZZ_EXAMPLES", "25"))
HOSTILE_TIMES = ["2026-01-01T00:00:00", "2026-01-01", "0001-01-01T00:00:00+14:00",
                 "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z",
                 "2026-02-30T00:00:00Z", "2026-01-01T24:00:00Z", "+002026-01-01T00:00:00Z",
                 "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00\x00Z"]
HOSTILE_IDS = ["\x00", "a\x00b", str(uuid.uuid4()) + "\x00", str(uuid.uuid4()).upper(), "", 7, None,
               ["x"], "' OR '1'='1"]


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def forged_cursor(at: Any, object_id: Any) -> str:
    return b64(json.dumps([at, object_id]).encode())


HOSTILE = [*HOSTILE_TIMES, "\x00", "FRA\x00", "13\x00", "\x00" * 3, "", " ", "-1", "0",
           "99999999999999999999999999", "1e309", "NaN", "inf", "\u00ff", "\ud7ff", "x" * 5000,
           "[]", "{}", "%00", b64(b"\x00\xff"), b64(b"[1,2,3]"), b64(b'"x"'), b64(b"[" * 5000),
           *[forged_cursor(t, i) for t in HOSTILE_TIMES for i in HOSTILE_IDS[:4]],
           *[forged_cursor("2026-01-01T00:00:00+00:00", i) for i in HOSTILE_IDS]]
values = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40),
                   st.builds(forged_cursor, st.one_of(st.sampled_from(HOSTILE_TIMES), st.text()),
                             st.one_of(st.sampled_from(HOSTILE_IDS[:4]), st.text(max_size=40))),
                   st.datetimes().map(lambda d: d.isoformat()),
                   st.integers(min_value=-2**70, max_value=2**70).map(str))


def _schema() -> dict[str, Any]:
    runtime = Runtime.build(Settings(database_url="sqlite://", keys_dir=Path("/nonexistent")))
    try:
        return create_app(runtime=runtime).openapi()
    finally:
        runtime.close()


def query_parameters() -> list[Any]:
    out = []
    for path, item in _schema()["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query":
                    out.append(pytest.param(method.upper(), path, parameter["name"],
                                            id=f"{method.upper()} {path} ?{parameter['name']}"))
    return out


@pytest.fixture(scope="module")
def fuzzed(databases: DatabaseFactory, keyring_template: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str], str]]:
    keys = tmp_path_factory.mktemp("qfuzz") / "keys"
    shutil.copytree(keyring_template, keys)
    os.chmod(keys, 0o700)
    runtime = Runtime.build(Settings(database_url=databases.clone(), keys_dir=keys,
                                     keyring_poll_seconds=0.2, audit_seal_interval_seconds=0.2,
                                     search_rate_per_minute=100_000, write_rate_per_minute=100_000,
                                     ip_rate_per_minute=100_000, token_ip_rate_per_minute=100_000))
    with runtime.db.unit_of_work() as session:
        ensure_court(session, ADMIN)
        ensure_shipped_paragraphs(session, ADMIN)
    make_party(runtime, code="FRA")
    for username, role in (("fra_fp", "focal_point"), ("fra_aud", "auditor")):
        make_user(runtime, username=username, party="FRA", role=role)
    tokens = {}
    with runtime.db.unit_of_work() as session:
        for user in session.scalars(select(User)):
            tokens[user.role] = runtime.tokens.issue(username=user.username, party=user.party_code,
                                                     role=user.role,
                                                     token_version=user.token_version)[0]
    with TestClient(create_app(runtime=runtime), base_url="https://testserver") as client:
        headers = {"Authorization": f"Bearer {tokens['focal_point']}"}
        for _ in range(3):  # a second page exists, so cursors reach the query
            created = client.post("/api/v1/notices", json=notice_document(), headers=headers)
            assert created.status_code == 201, created.text
        yield client, tokens, created.json()["id"]
    runtime.close()


def call(fuzzed: tuple[TestClient, dict[str, str], str], method: str, path: str, name: str,
         value: str) -> Any:
    client, tokens, notice_id = fuzzed
    role = "auditor" if path.startswith("/api/v1/audit/entries") else "focal_point"
    url = path.replace("{notice_id}", notice_id)
    return client.request(method, url, params={name: value},
                          headers={"Authorization": f"Bearer {tokens[role]}"})


@pytest.mark.parametrize(("method", "path", "name"), query_parameters())
def test_no_query_value_is_a_server_error(fuzzed: Any, method: str, path: str, name: str) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(value=values)
    def check(value: str) -> None:
        response = call(fuzzed, method, path, name, value)
        assert response.status_code < 500, (value, response.status_code, response.text)
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith("application/problem+json")

    for value in HOSTILE:  # every known-bad value, then generated ones
        response = call(fuzzed, method, path, name, value)
        assert response.status_code < 500, (value, response.status_code, response.text)
    check()


@pytest.mark.parametrize(("name", "value"), [
    ("since", "0001-01-01T00:00:00+14:00"), ("since", "9999-12-31T23:59:59-14:00"),
    ("since", "2026-01-01T00:00:00"), ("since", "2026-01-01"),
    ("cursor", forged_cursor("2026-01-01T00:00:00", str(uuid.uuid4()))),
    ("cursor", forged_cursor("2026-01-01", str(uuid.uuid4()))),
    ("cursor", forged_cursor("0001-01-01T00:00:00+14:00", str(uuid.uuid4()))),
    ("cursor", forged_cursor("9999-12-31T23:59:59-14:00", str(uuid.uuid4()))),
    ("cursor", forged_cursor("2026-01-01T00:00:00+00:00", "\x00")),
    ("paris_paragraph", "13\x00"), ("author_party", "FRA\x00"), ("cursor", "\x00"),
])
def test_the_values_that_used_to_fail_are_422_naming_their_parameter(fuzzed: Any, name: str,
                                                                     value: str) -> None:
    response = call(fuzzed, "GET", "/api/v1/notices", name, value)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [name]


def test_cursors_the_service_issues_still_page(fuzzed: Any) -> None:
    client, tokens, _ = fuzzed
    headers = {"Authorization": f"Bearer {tokens['focal_point']}"}
    seen: list[str] = []
    page = client.get("/api/v1/notices", params={"limit": 1}, headers=headers).json()
    while True:
        seen += [i["id"] for i in page["items"]]
        if page["next_cursor"] is None:
            break
        page = client.get("/api/v1/notices", params={"limit": 1, "cursor": page["next_cursor"]},
                          headers=headers).json()
    assert len(seen) == len(set(seen)) >= 3
