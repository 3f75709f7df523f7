"""RFC 6750 §3: 401s challenge with Bearer, and name invalid_token when a presented token fails."""

from __future__ import annotations

import pytest

from tests.support.factories import World, login


class TestBearerChallenge:
    def test_no_token_gets_a_plain_bearer_challenge(self, world: World) -> None:
        response = world.client.get("/api/v1/me")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"

    @pytest.mark.parametrize("token", ["junk", "eyJhbGciOiJub25lIn0.e30.", "a.b.c"])
    def test_a_bad_token_is_named_invalid_token(self, world: World, token: str) -> None:
        response = world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'

    def test_a_revoked_token_is_named_invalid_token(self, world: World) -> None:
        token = login(world.client, "nld_fp")
        headers = {"Authorization": f"Bearer {token}"}
        assert world.client.post("/api/v1/auth/logout", headers=headers).status_code == 204
        response = world.client.get("/api/v1/me", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
