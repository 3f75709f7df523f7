"""Rate limits (OWASP API4) on the token, search and write endpoints: per client address and per user."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.runtime import Runtime
from tests.support.factories import (
    PASSWORD,
    TOKEN_ENDPOINT,
    World,
    assert_oauth_error,
    assert_problem,
    bearer,
    notice_document,
)

SEARCH = "/api/v1/search/subjects"


@contextmanager
def limited(world: World, **limits: int) -> Iterator[tuple[TestClient, TestClient]]:
    """Two clients of one app with these limits, from two different client addresses."""
    runtime = world.runtime
    settings = Settings(**{**runtime.settings.model_dump(), **limits})
    built = Runtime(settings=settings, db=runtime.db, keys=runtime.keys, envelope=runtime.envelope,
                    tokens=runtime.tokens)
    app = create_app(runtime=built)
    with TestClient(app, base_url="https://testserver", client=("192.0.2.10", 40000)) as one, \
            TestClient(app, base_url="https://testserver", client=("192.0.2.20", 40000)) as other:
        yield one, other


def assert_rate_limited(response: httpx.Response) -> int:
    """A 429 (an OAuth slow_down at the token endpoint, a problem elsewhere) with a sane Retry-After."""
    if response.request.url.path == TOKEN_ENDPOINT:
        assert_oauth_error(response, 429, "slow_down")
    else:
        assert_problem(response, 429)
    retry = int(response.headers["retry-after"])
    assert 1 <= retry <= 60
    assert "Jean-Pierre" not in response.text
    return retry


def token_form(username: str, password: str = PASSWORD) -> dict[str, str]:
    return {"username": username, "password": password}


class TestTokenEndpoint:
    def test_per_address_whatever_the_username(self, world: World) -> None:
        with limited(world, token_ip_rate_per_minute=3) as (one, other):
            for name in ("fra_fp", "nobody-1", "nobody-2"):
                assert one.post("/api/v1/auth/token", data=token_form(name)).status_code in (200, 400)
            assert_rate_limited(one.post("/api/v1/auth/token", data=token_form("nld_fp")))
            # Even the right password is refused while the address is over its budget...
            assert_rate_limited(one.post("/api/v1/auth/token", data=token_form("fra_fp")))
            # ...and another address is not affected.
            assert other.post("/api/v1/auth/token", data=token_form("fra_fp")).status_code == 200


class TestSearch:
    def test_per_user(self, world: World) -> None:
        with limited(world, search_rate_per_minute=2) as (one, _):
            query = {"name": "Jean-Pierre Exemple"}
            for _ in range(2):
                assert one.post(SEARCH, json=query, headers=world.headers("icc_inv")).status_code == 200
            assert_rate_limited(one.post(SEARCH, json=query, headers=world.headers("icc_inv")))
            # Another user from the same address still has its own budget.
            assert one.post(SEARCH, json=query, headers=world.headers("fra_fp")).status_code == 200

    def test_per_address_across_users(self, world: World) -> None:
        with limited(world, ip_rate_per_minute=3) as (one, other):
            query = {"name": "Jean-Pierre Exemple"}
            for who in ("icc_inv", "fra_fp", "nld_fp"):
                assert one.post(SEARCH, json=query, headers=world.headers(who)).status_code == 200
            assert_rate_limited(one.post(SEARCH, json=query, headers=world.headers("deu_fp")))
            # Refused before the token is even looked at: a flood of garbage tokens costs nothing.
            assert_rate_limited(one.post(SEARCH, json=query, headers=bearer("garbage")))
            assert other.post(SEARCH, json=query, headers=world.headers("deu_fp")).status_code == 200


class TestWrites:
    def test_per_user_post_and_put_share_a_budget_and_refusals_write_nothing(self, world: World) -> None:
        with limited(world, write_rate_per_minute=3) as (one, _):
            headers = world.headers("fra_fp")
            first = one.post("/api/v1/notices", json=notice_document(), headers=headers)
            assert first.status_code == 201
            assert one.post("/api/v1/notices", json=notice_document(), headers=headers).status_code == 201
            put = one.put(f"/api/v1/notices/{first.json()['id']}", json=notice_document(title="v2"),
                          headers=headers)
            assert put.status_code == 200
            assert_rate_limited(one.post("/api/v1/notices", json=notice_document(), headers=headers))
            assert_rate_limited(one.put(f"/api/v1/notices/{first.json()['id']}",
                                        json=notice_document(title="v3"), headers=headers))
            listed = one.get("/api/v1/notices", headers=headers).json()["items"]
            assert len(listed) == 2
            assert one.get(f"/api/v1/notices/{first.json()['id']}", headers=headers).json()["revision"] == 2
            # Reads are not write-limited, and other users keep their budget.
            assert one.post("/api/v1/notices", json=notice_document(),
                            headers=world.headers("nld_fp")).status_code == 201

    def test_per_address(self, world: World) -> None:
        with limited(world, ip_rate_per_minute=2) as (one, other):
            for who in ("fra_fp", "nld_fp"):
                assert one.post("/api/v1/notices", json=notice_document(),
                                headers=world.headers(who)).status_code == 201
            assert_rate_limited(one.post("/api/v1/notices", json=notice_document(),
                                         headers=world.headers("deu_fp")))
            assert other.post("/api/v1/notices", json=notice_document(),
                              headers=world.headers("deu_fp")).status_code == 201


def test_defaults_allow_normal_use(world: World) -> None:
    """The default budgets sit well above a person's pace (the suite itself never meets them)."""
    defaults = Settings()
    assert defaults.search_rate_per_minute >= 60 and defaults.write_rate_per_minute >= 60
    assert defaults.token_ip_rate_per_minute >= 30 and defaults.ip_rate_per_minute >= 600
    for _ in range(10):
        assert world.client.post(SEARCH, json={"name": "Jean Exemple"},
                                 headers=world.headers("icc_inv")).status_code == 200
