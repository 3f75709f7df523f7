"""The foundation: health, problem documents for every error, request ids."""

import httpx
import pytest
from starlette.testclient import TestClient

from tests.support.factories import World, assert_problem, require_problem_documents


def test_health_needs_no_authentication(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_every_error_in_the_suite_is_checked_for_problem_json(client: TestClient) -> None:
    assert require_problem_documents in client.event_hooks["response"]
    with pytest.raises(AssertionError):
        require_problem_documents(httpx.Response(500, text="oops"))


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/nowhere", 404), ("GET", "/api/v1/nowhere", 404), ("DELETE", "/health", 405),
    ("GET", "/api/v1/me", 401), ("GET", "/docs", 404),
    ("GET", "/openapi.json", 404),
])
def test_framework_errors_are_problem_documents(client: TestClient, method: str, path: str,
                                                status: int) -> None:
    assert_problem(client.request(method, path), status)


def test_request_id_is_generated_by_the_server(client: TestClient) -> None:
    given = client.get("/health", headers={"X-Request-ID": "abc12345-trace"})
    assert given.headers["x-request-id"] != "abc12345-trace" and len(given.headers["x-request-id"]) == 32
    hostile = client.get("/health", headers={"X-Request-ID": "x<script>alert(1)</script>"})
    assert "<" not in hostile.headers["x-request-id"] and len(hostile.headers["x-request-id"]) == 32


def test_post_read_notice_round_trip(world: World) -> None:
    created = world.post_notice("fra_fp", recipients=["ICC"])
    got = world.client.get(f"/api/v1/notices/{created['id']}", headers=world.headers("icc_inv"))
    assert got.status_code == 200, got.text
    assert got.json()["subjects"][0]["name"] == "Jean-Pierre Exemple"
    assert_problem(world.client.get(f"/api/v1/notices/{created['id']}", headers=world.headers("nld_fp")), 404)
