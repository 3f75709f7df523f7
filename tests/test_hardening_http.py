"""HTTP hardening through the real ASGI app: security headers, TRACE, docs, CORS, body and page limits."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.runtime import Runtime
from tests.support.factories import World, assert_problem, notice_document

REQUIRED_HEADERS = {
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def assert_hardened(response: httpx.Response) -> None:
    for name, value in REQUIRED_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.status_code)
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-request-id"]
    assert "server" not in response.headers


def app_with(runtime: Runtime, **overrides: object) -> TestClient:
    settings = Settings(**{**runtime.settings.model_dump(), **overrides})
    built = Runtime(settings=settings, db=runtime.db, keys=runtime.keys, envelope=runtime.envelope,
                    tokens=runtime.tokens)
    return TestClient(create_app(runtime=built), base_url="https://testserver")


class TestSecurityHeaders:
    def test_on_success(self, world: World) -> None:
        created = world.client.post("/api/v1/notices", json=notice_document(),
                                    headers=world.headers("fra_fp"))
        assert created.status_code == 201
        assert_hardened(created)
        assert_hardened(world.client.get("/health"))
        assert_hardened(world.client.get("/api/v1/notices", headers=world.headers("fra_fp")))

    @pytest.mark.parametrize("status", [401, 404, 405, 413, 422])
    def test_on_errors(self, world: World, status: int) -> None:
        client = world.client
        response = {
            401: lambda: client.get("/api/v1/me"),
            404: lambda: client.get("/api/v1/notices/00000000-0000-0000-0000-000000000000",
                                    headers=world.headers("fra_fp")),
            405: lambda: client.delete("/api/v1/notices", headers=world.headers("fra_fp")),
            413: lambda: client.post("/api/v1/notices", content=b"{" + b" " * (3 * 1024 * 1024) + b"}",
                                     headers={**world.headers("fra_fp"), "Content-Type": "application/json"}),
            422: lambda: client.post("/api/v1/notices", json={"kind": "nope"},
                                     headers=world.headers("fra_fp")),
        }[status]()
        assert_problem(response, status)
        assert_hardened(response)

    def test_request_ids_are_the_servers_never_the_clients(self, client: TestClient) -> None:
        ours = client.get("/health", headers={"X-Request-Id": "abc-12345678"}).headers["x-request-id"]
        assert ours != "abc-12345678" and len(ours) == 32
        replaced = client.get("/health", headers={"X-Request-Id": "evil<script>"}).headers["x-request-id"]
        assert replaced != "evil<script>" and len(replaced) == 32


class TestMethods:
    @pytest.mark.parametrize("path", ["/health", "/api/v1/notices", "/api/v1/me"])
    def test_trace_is_refused_and_never_echoed(self, world: World, path: str) -> None:
        secret = "trace-canary-Authorization-echo"
        response = world.client.request("TRACE", path, headers={**world.headers("fra_fp"), "X-Probe": secret})
        body = assert_problem(response, 405)
        assert secret not in response.text and world.tokens["fra_fp"] not in response.text
        assert body["status"] == 405 and response.headers["allow"]
        assert_hardened(response)

    def test_405_lists_every_method_of_the_resource(self, world: World) -> None:
        response = world.client.request("PATCH", "/api/v1/notices/abc", headers=world.headers("fra_fp"))
        assert_problem(response, 405)
        assert response.headers["allow"] == "GET, PUT"


class TestDocs:
    @pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"])
    def test_off_by_default(self, client: TestClient, path: str) -> None:
        assert Settings().expose_docs is False
        assert_problem(client.get(path), 404)

    def test_on_with_arx_expose_docs(self, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ARX_EXPOSE_DOCS", "true")
        settings = Settings(database_url=runtime.settings.database_url, keys_dir=runtime.settings.keys_dir)
        assert settings.expose_docs is True
        built = Runtime(settings=settings, db=runtime.db, keys=runtime.keys, envelope=runtime.envelope,
                        tokens=runtime.tokens)
        with TestClient(create_app(runtime=built), base_url="https://testserver") as client:
            schema = client.get("/openapi.json")
            assert schema.status_code == 200 and "/api/v1/notices" in schema.json()["paths"]
            docs = client.get("/docs")
            assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
            assert_hardened(docs)


class TestCors:
    def test_closed_by_default(self, world: World) -> None:
        preflight = world.client.options("/api/v1/notices", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization"})
        assert "access-control-allow-origin" not in preflight.headers
        assert preflight.status_code in (400, 405)
        simple = world.client.get("/api/v1/notices", headers={**world.headers("fra_fp"),
                                                              "Origin": "https://evil.example"})
        assert simple.status_code == 200
        assert not any(h.startswith("access-control-") for h in simple.headers)

    def test_open_only_to_configured_origins(self, runtime: Runtime) -> None:
        with app_with(runtime, cors_origins=["https://portal.example"]) as client:
            allowed = client.options("/api/v1/notices", headers={
                "Origin": "https://portal.example", "Access-Control-Request-Method": "GET"})
            assert allowed.headers["access-control-allow-origin"] == "https://portal.example"
            assert "access-control-allow-credentials" not in allowed.headers
            other = client.options("/api/v1/notices", headers={
                "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
            assert "access-control-allow-origin" not in other.headers


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    yield b'{"kind": "frozen_asset", "narrative": "'
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}'


class TestBodyLimit:
    def test_declared_length_over_the_limit_is_413(self, world: World) -> None:
        body = b'{"title": "' + b"a" * (2 * 1024 * 1024 + 10) + b'"}'
        response = world.client.post("/api/v1/notices", content=body, headers={
            **world.headers("fra_fp"), "Content-Type": "application/json"})
        detail = assert_problem(response, 413)["detail"]
        assert "2097152" in detail

    def test_chunked_body_without_length_is_413_and_nothing_is_written(self, world: World) -> None:
        response = world.client.post("/api/v1/notices", content=_chunks(3 * 1024 * 1024), headers={
            **world.headers("fra_fp"), "Content-Type": "application/json"})
        assert "content-length" not in response.request.headers
        assert response.request.headers["transfer-encoding"] == "chunked"
        assert_problem(response, 413)
        listed = world.client.get("/api/v1/notices", headers=world.headers("fra_fp"))
        assert listed.json()["items"] == []

    def test_limit_is_configurable(self, runtime: Runtime) -> None:
        with app_with(runtime, max_body_bytes=4096) as client:
            assert_problem(client.post("/api/v1/auth/token", content=b"u" * 5000, headers={
                "Content-Type": "application/x-www-form-urlencoded"}), 413)


class TestPageAndFieldCaps:
    @pytest.mark.parametrize("limit", [0, -1, 101, 10**9, "ten"])
    def test_list_limit_out_of_range_is_422(self, world: World, limit: object) -> None:
        assert_problem(world.client.get("/api/v1/notices", params={"limit": limit},
                                        headers=world.headers("fra_fp")), 422)

    def test_list_never_returns_more_than_the_cap(self, world: World) -> None:
        for _ in range(3):
            world.post_notice("fra_fp")
        page = world.client.get("/api/v1/notices", params={"limit": 2}, headers=world.headers("fra_fp"))
        assert len(page.json()["items"]) == 2 and page.json()["next_cursor"]

    @pytest.mark.parametrize("limit", [0, 101, 100_000])
    def test_search_limit_out_of_range_is_422(self, world: World, limit: int) -> None:
        assert_problem(world.client.post("/api/v1/search/subjects", json={"name": "x", "limit": limit},
                                         headers=world.headers("icc_inv")), 422)

    def test_oversized_fields_are_422_not_stored(self, world: World) -> None:
        response = world.client.post("/api/v1/notices", json=notice_document(title="t" * 301),
                                     headers=world.headers("fra_fp"))
        assert_problem(response, 422)
        many = notice_document(subjects=[{"name": f"S {i}"} for i in range(201)])
        assert_problem(world.client.post("/api/v1/notices", json=many, headers=world.headers("fra_fp")), 422)
        assert world.client.get("/api/v1/notices", headers=world.headers("fra_fp")).json()["items"] == []

    def test_unknown_query_parameter_is_422_without_echo(self, world: World) -> None:
        response = world.client.get("/api/v1/notices", params={"subject_name": "Jean-Pierre Exemple"},
                                    headers=world.headers("fra_fp"))
        assert_problem(response, 422)
        assert "Jean-Pierre" not in response.text and "subject_name" not in response.text

    def test_unknown_query_parameter_without_token_is_401(self, client: TestClient) -> None:
        assert_problem(client.get("/api/v1/notices", params={"access_token": "x"}), 401)
