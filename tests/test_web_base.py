"""The portal's base: sign-in through the token endpoint's authentication, server-side sessions with
idle and absolute timeouts, CSRF on every form, TOTP enrolment, languages, headers."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from app.audit.models import AuditEntry
from app.config import Settings
from app.db import utcnow
from app.main import create_app
from app.runtime import Runtime
from app.users.models import User
from app.web.i18n import direction, from_accept_language
from app.web.models import PortalSession
from tests.support.factories import PASSWORD, make_party, make_user
from tests.support.portal import Browser, csrf_of
from tools.i18n import languages, missing


@pytest.fixture
def settings(database_url: str, keys_dir: Path) -> Settings:
    return Settings(database_url=database_url, keys_dir=keys_dir, keyring_poll_seconds=0.2,
                    audit_seal_interval_seconds=0.2, portal_require_totp=False)


@pytest.fixture
def app_client(runtime: Runtime) -> Iterator[TestClient]:
    make_party(runtime, code="FRA")
    make_user(runtime, username="fra_fp", party="FRA", role="focal_point")
    with TestClient(create_app(runtime=runtime), base_url="https://testserver") as client:
        yield client


@pytest.fixture
def browser(app_client: TestClient) -> Browser:
    return Browser(app_client)


class Clock:
    """The portal's clock, turned by hand."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(app_client: TestClient) -> Clock:
    clock = Clock()
    app_client.app.state.portal_clock = clock  # type: ignore[attr-defined]
    return clock


def count(runtime: Runtime, model: type, *where: Any) -> int:
    with runtime.db.unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


class TestSignIn:
    def test_signed_out_root_and_pages_redirect_to_login(self, browser: Browser) -> None:
        assert browser.get("/").headers["location"] == "/login"
        response = browser.get("/account")
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=/account"

    def test_sign_in_sets_a_host_cookie_kept_hashed_in_the_database(self, browser: Browser,
                                                                   runtime: Runtime) -> None:
        response = browser.sign_in("fra_fp", next_path="/account")
        assert response.status_code == 303 and response.headers["location"] == "/account"
        cookie = next(h for h in response.headers.get_list("set-cookie")
                      if h.startswith("__Host-arx_session="))
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"secure", "httponly", "samesite=strict", "path=/"} <= attributes
        assert not any(a.startswith("domain") for a in attributes)
        session_id = browser.session_cookie
        assert session_id and len(session_id) >= 43
        with runtime.db.unit_of_work() as session:
            rows = list(session.scalars(select(PortalSession)))
        assert [r.id_hash for r in rows] == [hashlib.sha256(session_id.encode()).hexdigest()]
        assert browser.get("/account").status_code == 200

    def test_next_is_never_an_open_redirect(self, browser: Browser) -> None:
        response = browser.sign_in("fra_fp", next_path="//evil.example/x")
        assert response.headers["location"] == "/notices"

    def test_wrong_password_shows_the_form_again_and_counts_toward_the_shared_lockout(
            self, browser: Browser, app_client: TestClient, runtime: Runtime) -> None:
        for _ in range(runtime.settings.login_max_failures):
            response = browser.sign_in("fra_fp", password="wrong password!")
            assert response.status_code == 401
            assert "Invalid username, password or one-time code." in response.text
            assert 'value="fra_fp"' in response.text  # the username is kept
        assert browser.session_cookie is None
        # The same lockout as the token endpoint: the API now refuses the right password too.
        locked = app_client.post("/api/v1/auth/token", data={"username": "fra_fp",
                                                             "password": PASSWORD})
        assert locked.status_code == 429
        assert browser.sign_in("fra_fp").status_code == 429
        assert count(runtime, AuditEntry, AuditEntry.action == "auth.login",
                     AuditEntry.outcome == "failed") == runtime.settings.login_max_failures

    def test_login_without_its_csrf_token_is_refused(self, browser: Browser, runtime: Runtime) -> None:
        browser.get("/login")
        response = browser.post("/login", {"username": "fra_fp", "password": PASSWORD}, csrf=False)
        assert response.status_code == 403
        assert browser.session_cookie is None
        assert count(runtime, PortalSession) == 0

    def test_sign_in_and_out_are_audited(self, browser: Browser, runtime: Runtime) -> None:
        browser.sign_in("fra_fp")
        browser.get("/account")
        browser.post("/logout", {})
        actions = {"auth.login", "portal.session_start", "portal.session_end"}
        assert count(runtime, AuditEntry, AuditEntry.action.in_(actions),
                     AuditEntry.username == "fra_fp") == 3


class TestSessions:
    def test_logout_ends_the_session_server_side(self, browser: Browser, app_client: TestClient,
                                                 runtime: Runtime) -> None:
        browser.sign_in("fra_fp")
        stolen = browser.session_cookie
        browser.get("/account")
        assert browser.post("/logout", {}).headers["location"] == "/login"
        assert count(runtime, PortalSession) == 0
        app_client.cookies.set("__Host-arx_session", str(stolen))
        assert browser.get("/account").status_code == 303

    def test_idle_timeout_ends_the_session(self, browser: Browser, clock: Clock,
                                           runtime: Runtime) -> None:
        browser.sign_in("fra_fp")
        clock.advance(seconds=runtime.settings.portal_idle_timeout_seconds - 5)
        assert browser.get("/account").status_code == 200  # activity keeps it alive
        clock.advance(seconds=runtime.settings.portal_idle_timeout_seconds - 5)
        assert browser.get("/account").status_code == 200
        clock.advance(seconds=runtime.settings.portal_idle_timeout_seconds + 1)
        response = browser.get("/account")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?expired=1")
        assert "session has ended" in browser.get("/login?expired=1").text

    def test_absolute_timeout_ends_even_an_active_session(self, browser: Browser, clock: Clock,
                                                          runtime: Runtime) -> None:
        browser.sign_in("fra_fp")
        step = runtime.settings.portal_idle_timeout_seconds - 60
        elapsed = 0
        while elapsed + step < runtime.settings.portal_absolute_timeout_seconds:
            clock.advance(seconds=step)
            elapsed += step
            assert browser.get("/account").status_code == 200
        clock.advance(seconds=step)
        assert browser.get("/account").status_code == 303

    def test_disabling_the_account_ends_its_sessions(self, browser: Browser, runtime: Runtime) -> None:
        from app.users.service import disable_user
        from tests.support.factories import ADMIN

        browser.sign_in("fra_fp")
        with runtime.db.unit_of_work() as session:
            disable_user(session, ADMIN, "fra_fp")
        assert browser.get("/account").status_code == 303


class TestCsrf:
    def test_a_post_without_the_token_is_403_and_changes_nothing(self, browser: Browser,
                                                                runtime: Runtime) -> None:
        browser.sign_in("fra_fp")
        browser.get("/account")
        form = {"current_password": PASSWORD, "new_password": "a brand new password",
                "repeat_password": "a brand new password"}
        response = browser.post("/account/password", form, csrf=False)
        assert response.status_code == 403
        assert "Forbidden" in response.text and response.headers["content-type"].startswith("text/html")
        response = browser.post("/account/password", [*form.items(), ("csrf_token", "forged")],
                                csrf=False)
        assert response.status_code == 403
        with runtime.db.unit_of_work() as session:
            user = session.scalar(select(User).where(User.username == "fra_fp"))
            assert user is not None and user.token_version == 1
        assert browser.get("/account").status_code == 200  # still signed in, password unchanged

    def test_another_sessions_token_does_not_pass(self, app_client: TestClient,
                                                  runtime: Runtime) -> None:
        first = Browser(app_client)
        first.sign_in("fra_fp")
        token = csrf_of(first.get("/account").text)
        with TestClient(app_client.app, base_url="https://testserver") as other_client:
            other = Browser(other_client)
            other.sign_in("fra_fp")
            other.get("/account")
            response = other.post("/logout", {"csrf_token": token}, csrf=False)
            assert response.status_code == 403
        assert count(runtime, PortalSession) == 2


class TestAccount:
    def test_password_change_keeps_this_session_and_ends_the_others(
            self, app_client: TestClient, runtime: Runtime) -> None:
        me = Browser(app_client)
        me.sign_in("fra_fp")
        with TestClient(app_client.app, base_url="https://testserver") as other_client:
            other = Browser(other_client)
            other.sign_in("fra_fp")
            me.get("/account")
            new = "a brand new password"
            response = me.post("/account/password", {"current_password": PASSWORD,
                                                     "new_password": new, "repeat_password": new})
            assert response.headers["location"] == "/account?done=password"
            assert "Your password has been changed" in me.get("/account?done=password").text
            assert other.get("/account").status_code == 303
        token = app_client.post("/api/v1/auth/token", data={"username": "fra_fp", "password": new})
        assert token.status_code == 200

    def test_wrong_current_password_is_shown_beside_its_field(self, browser: Browser) -> None:
        browser.sign_in("fra_fp")
        browser.get("/account")
        response = browser.post("/account/password", {"current_password": "nope nope nope",
                                                      "new_password": "a brand new password",
                                                      "repeat_password": "a brand new password"})
        assert response.status_code == 422
        assert 'id="current_password-error"' in response.text
        assert 'aria-invalid="true"' in response.text and 'role="alert"' in response.text


class TestTotp:
    @pytest.fixture
    def settings(self, database_url: str, keys_dir: Path) -> Settings:
        return Settings(database_url=database_url, keys_dir=keys_dir, keyring_poll_seconds=0.2,
                        audit_seal_interval_seconds=0.2, portal_require_totp=True)

    def test_required_totp_allows_only_enrolment_until_confirmed(self, browser: Browser,
                                                                 runtime: Runtime) -> None:
        assert browser.sign_in("fra_fp").status_code == 303
        assert browser.get("/notices").headers["location"] == "/account"
        page = browser.get("/account")
        assert "Two-step sign-in is required" in page.text
        browser.post("/account/totp/start", {})
        page = browser.get("/account")
        assert "<svg" in page.text and "QR code" in page.text
        secret = page.text.split('id="totp-secret">')[1].split("<")[0]
        assert len(secret) == 32
        wrong = browser.post("/account/totp/confirm", {"code": "000000"
                                                       if pyotp.TOTP(secret).now() != "000000"
                                                       else "111111"})
        assert wrong.status_code == 422 and 'id="code-error"' in wrong.text
        with runtime.db.unit_of_work() as session:
            user = session.scalar(select(User).where(User.username == "fra_fp"))
            assert user is not None and user.totp_key_version is None  # not before confirmation
        done = browser.post("/account/totp/confirm", {"code": pyotp.TOTP(secret).now()})
        assert done.headers["location"] == "/account?done=totp"
        assert browser.get("/notices").headers.get("location") != "/account"
        browser.post("/logout", {})
        # From now on a code is needed, and the confirming code cannot be replayed.
        assert browser.sign_in("fra_fp").status_code == 401
        assert browser.sign_in("fra_fp", otp=pyotp.TOTP(secret).now()).status_code == 401

    def test_the_pending_secret_is_sealed_not_stored_in_clear(self, browser: Browser,
                                                               runtime: Runtime) -> None:
        browser.sign_in("fra_fp")
        browser.get("/account")
        browser.post("/account/totp/start", {})
        secret = browser.get("/account").text.split('id="totp-secret">')[1].split("<")[0]
        with runtime.db.unit_of_work() as session:
            row = session.scalar(select(PortalSession))
            assert row is not None and row.pending_totp_ciphertext
            assert secret.encode() not in row.pending_totp_ciphertext


class TestLanguages:
    def test_lang_query_is_remembered(self, browser: Browser) -> None:
        page = browser.get("/login?lang=fr")
        assert '<html lang="fr" dir="ltr">' in page.text and "Se connecter" in page.text
        assert browser.get("/login").text.count('lang="fr" dir="ltr"') == 1
        assert '<html lang="en"' in browser.get("/login?lang=en").text

    def test_accept_language_otherwise(self, browser: Browser) -> None:
        page = browser.get("/login", headers={"Accept-Language": "de-CH, fr;q=0.8, en;q=0.5"})
        assert '<html lang="fr"' in page.text
        assert from_accept_language("en-GB,en;q=0.9,fr;q=0.8") == "en"
        assert from_accept_language("fr-CA") == "fr"
        assert from_accept_language("xx, *;q=0.1") == "en"

    def test_right_to_left_languages_get_dir_rtl(self) -> None:
        assert direction("ar") == "rtl" and direction("he") == "rtl"
        assert direction("fr") == "ltr"

    def test_every_message_has_a_translation_in_every_language(self) -> None:
        assert "fr" in languages()
        for lang in languages():
            if lang != "en":
                assert missing(lang) == [], f"{lang} lacks translations"


class TestHeaders:
    def test_pages_keep_the_api_security_headers_with_a_strict_csp(self, browser: Browser) -> None:
        page = browser.get("/login")
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert "unsafe-inline" not in page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["strict-transport-security"].startswith("max-age=")
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["x-frame-options"] == "DENY"
        assert "<script>" not in page.text and "style=" not in page.text
        assert browser.get("/static/portal.css").status_code == 200


class TestPerAddressLimit:
    @pytest.fixture
    def settings(self, database_url: str, keys_dir: Path) -> Settings:
        return Settings(database_url=database_url, keys_dir=keys_dir, keyring_poll_seconds=0.2,
                        audit_seal_interval_seconds=0.2, portal_require_totp=False,
                        token_ip_rate_per_minute=3)

    def test_portal_sign_ins_share_the_token_endpoints_per_address_limit(
            self, browser: Browser, app_client: TestClient) -> None:
        assert app_client.post("/api/v1/auth/token", data={"username": "fra_fp",
                                                           "password": PASSWORD}).status_code == 200
        assert browser.sign_in("nobody-1", password="x" * 12).status_code == 401
        assert browser.sign_in("nobody-2", password="x" * 12).status_code == 401
        refused = browser.sign_in("fra_fp")
        assert refused.status_code == 429 and "retry-after" in refused.headers
        assert browser.session_cookie is None


class TestUnroutedPaths:
    def test_a_browser_gets_the_portal_404_page_and_api_clients_a_problem(self, browser: Browser,
                                                                          app_client: TestClient
                                                                          ) -> None:
        page = browser.get("/no/such/page", headers={"Accept": "text/html,*/*;q=0.8"})
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        assert "There is nothing here" in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        api = app_client.get("/api/v1/nothing", headers={"Accept": "text/html"})
        assert api.status_code == 404
        assert api.headers["content-type"].startswith("application/problem+json")
        assert app_client.get("/no/such/page").headers["content-type"].startswith(
            "application/problem+json")
