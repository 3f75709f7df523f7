"""The token endpoint speaks OAuth 2.0 (RFC 6749 §4.3, §5.1, §5.2) to the clients people use: Authlib and
requests-oauthlib get a token, and the right exception (not a problem document stored as a token)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from authlib.integrations.httpx_client import OAuth2Client
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from oauthlib.oauth2 import InvalidGrantError, LegacyApplicationClient, UnsupportedGrantTypeError
from requests_oauthlib import OAuth2Session

from tests.support.database import DatabaseFactory
from tests.support.e2e import Server, Site, make_site
from tests.support.factories import PASSWORD, TOKEN_ENDPOINT, World, assert_oauth_error


class TestGrantTypes:
    def test_password_grant_with_grant_type_and_scope(self, world: World) -> None:
        response = world.client.post(TOKEN_ENDPOINT, data={"grant_type": "password", "username": "fra_fp",
                                                           "password": PASSWORD, "scope": "notices"})
        assert response.status_code == 200
        assert response.json()["token_type"] == "bearer"
        assert response.headers["cache-control"] == "no-store" and response.headers["pragma"] == "no-cache"

    def test_grant_type_may_be_omitted_as_in_the_v1_contract(self, world: World) -> None:
        response = world.client.post(TOKEN_ENDPOINT, data={"username": "fra_fp", "password": PASSWORD})
        assert response.status_code == 200

    @pytest.mark.parametrize("grant", ["client_credentials", "authorization_code", "refresh_token",
                                       "urn:ietf:params:oauth:grant-type:jwt-bearer", "PASSWORD"])
    def test_other_grants_are_unsupported_even_with_a_good_password(self, world: World, grant: str) -> None:
        response = world.client.post(TOKEN_ENDPOINT, data={"grant_type": grant, "username": "fra_fp",
                                                           "password": PASSWORD})
        assert_oauth_error(response, 400, "unsupported_grant_type")
        assert "access_token" not in response.text

    @pytest.mark.parametrize("form", [{}, {"username": "fra_fp"}, {"password": PASSWORD},
                                      {"username": "fra_fp", "password": ""},
                                      {"username": "fra_fp", "password": "x" * 1025},
                                      {"username": "fra_fp", "password": PASSWORD, "otp": "1" * 17}])
    def test_missing_or_oversized_fields_are_invalid_request(self, world: World,
                                                             form: dict[str, str]) -> None:
        assert_oauth_error(world.client.post(TOKEN_ENDPOINT, data=form), 400, "invalid_request")

    def test_a_json_body_is_invalid_request(self, world: World) -> None:
        response = world.client.post(TOKEN_ENDPOINT, json={"username": "fra_fp", "password": PASSWORD})
        assert_oauth_error(response, 400, "invalid_request")

    def test_a_wrong_password_is_invalid_grant_without_a_bearer_challenge(self, world: World) -> None:
        response = world.client.post(TOKEN_ENDPOINT, data={"grant_type": "password", "username": "fra_fp",
                                                           "password": "wrong"})
        assert_oauth_error(response, 400, "invalid_grant")
        assert "www-authenticate" not in response.headers

    def test_other_routes_keep_problem_documents(self, world: World) -> None:
        response = world.client.get("/api/v1/me")
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")


@pytest.fixture(scope="module")
def server(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    site: Site = make_site(tmp_path_factory.mktemp("oauth") / "site", databases.empty())
    running = Server(site).start()
    yield running
    running.stop()


@pytest.mark.slow
class TestIndependentClients:
    def url(self, server: Server) -> str:
        return f"{server.url}{TOKEN_ENDPOINT}"

    def ca(self, server: Server) -> str:
        return str(server.site.keys_dir / "tls-cert.pem")

    def test_authlib_httpx_client_gets_a_token_and_uses_it(self, server: Server) -> None:
        with OAuth2Client(verify=server.site.tls_context(), token_endpoint_auth_method="none",
                          client_id="arx-cli") as client:
            token = client.fetch_token(self.url(server), username="fra_fp", password=PASSWORD)
            assert token["token_type"] == "bearer" and token["expires_in"] > 0
            me = client.get(f"{server.url}/api/v1/me")
            assert me.status_code == 200 and me.json()["username"] == "fra_fp"

    def test_authlib_raises_an_oauth_error_instead_of_storing_a_problem(self, server: Server) -> None:
        from authlib.integrations.base_client import OAuthError

        with AuthlibSession(client_id="arx-cli", token_endpoint_auth_method="none") as session:
            with pytest.raises(OAuthError) as refused:
                session.fetch_token(self.url(server), username="fra_fp", password="wrong",
                                    verify=self.ca(server))
            assert refused.value.error == "invalid_grant"
            assert session.token is None

    def test_requests_oauthlib_gets_a_token(self, server: Server) -> None:
        session = OAuth2Session(client=LegacyApplicationClient(client_id="arx-cli"))
        token = session.fetch_token(self.url(server), username="fra_fp", password=PASSWORD,
                                    include_client_id=True, verify=self.ca(server))
        assert token["token_type"] == "bearer"
        me = session.get(f"{server.url}/api/v1/me", verify=self.ca(server))
        assert me.status_code == 200 and me.json()["party"] == "FRA"

    def test_requests_oauthlib_raises_invalid_grant_on_a_wrong_password(self, server: Server) -> None:
        session = OAuth2Session(client=LegacyApplicationClient(client_id="arx-cli"))
        with pytest.raises(InvalidGrantError):
            session.fetch_token(self.url(server), username="fra_fp", password="wrong",
                                include_client_id=True, verify=self.ca(server))

    def test_requests_oauthlib_raises_unsupported_grant_type(self, server: Server) -> None:
        response = requests.post(self.url(server), data={"grant_type": "client_credentials",
                                                         "username": "fra_fp", "password": PASSWORD},
                                 verify=self.ca(server), timeout=30)
        assert response.status_code == 400
        client = LegacyApplicationClient(client_id="arx-cli")
        with pytest.raises(UnsupportedGrantTypeError):
            client.parse_request_body_response(response.text)
