"""Building test data through the real services, and the small assertions every test module uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.testclient import TestClient

from app.auth.principal import Principal, Role
from app.parties.service import add_party
from app.runtime import Runtime
from app.users.service import add_user

PASSWORD = "correct horse battery staple"
ADMIN = Principal(username="cli:test", party="-", role=Role.ADMIN, request_id="test-setup")


TOKEN_ENDPOINT = "/api/v1/auth/token"


def _path_of(response: httpx.Response) -> str | None:
    try:
        return response.request.url.path
    except RuntimeError:  # a response built by hand, with no request
        return None


def require_problem_documents(response: httpx.Response) -> None:
    """Every error the suite ever sees is an RFC 9457 problem document (CONTRACT.md), except the token
    endpoint's refusals, which are RFC 6749 §5.2 errors for OAuth clients."""
    if response.status_code >= 400:
        kind = response.headers.get("content-type", "")
        if _path_of(response) == TOKEN_ENDPOINT and response.status_code < 500:
            assert kind.startswith("application/json"), (response.status_code, kind)
            response.read()
            assert set(response.json()) == {"error", "error_description"}, response.text
            return
        assert kind.startswith("application/problem+json"), (response.status_code, kind)


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> dict[str, str]:
    """An RFC 6749 §5.2 error from the token endpoint, never cached."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert body["error"] == error and body["error_description"], body
    return body


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


def notice_document(**overrides: Any) -> dict[str, Any]:
    """A valid notice document (CONTRACT.md example), with overrides."""
    doc: dict[str, Any] = {
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

    def post_notice(self, who: str, **overrides: Any) -> dict[str, Any]:
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


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem document with this status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"] and "detail" in body
    return body
