"""Logging in and out: no username oracle, TOTP with drift and replay protection, lockout, JWKS, /me."""

from __future__ import annotations

import base64
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import argon2
import pyotp
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from sqlalchemy import select
from starlette.testclient import TestClient

from app.audit.models import AuditEntry
from app.auth import service
from app.auth.service import audit_name
from app.errors import TooManyRequests, Unauthorized
from app.runtime import Runtime
from app.users.models import LoginThrottle, RevokedToken, User
from app.users.service import disable_user
from tests.support.factories import (
    ADMIN,
    PASSWORD,
    assert_oauth_error,
    assert_problem,
    bearer,
    login,
    make_party,
    make_user,
)

TOKEN = "/api/v1/auth/token"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/me"
# Headers that legitimately differ between two otherwise identical answers.
PER_REQUEST = {"x-request-id", "date"}
TOTP_STEP = 30


@pytest.fixture
def people(runtime: Runtime, client: TestClient) -> dict[str, str]:
    """fra_fp (password only) and fra_otp (password + TOTP); returns the TOTP secret by username."""
    make_party(runtime, code="FRA")
    make_user(runtime, username="fra_fp", party="FRA", role="focal_point")
    secret = make_user(runtime, username="fra_otp", party="FRA", role="focal_point", totp=True)
    assert secret is not None
    return {"fra_otp": secret}


def attempt(client: TestClient, username: str, password: str = PASSWORD,
            otp: str | None = None) -> Any:
    form = {"username": username, "password": password}
    if otp is not None:
        form["otp"] = otp
    return client.post(TOKEN, data=form)


def comparable(response: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
    headers = {k: v for k, v in response.headers.items() if k.lower() not in PER_REQUEST}
    return response.status_code, headers, response.json()


def stored_name(runtime: Runtime, username: str) -> str:
    """The name an attempt is audited and throttled under: the account's, else a keyed hash."""
    with runtime.db.unit_of_work() as session:
        known = session.scalar(select(User.id).where(User.username == username)) is not None
    return audit_name(runtime, username, known)


def audit_rows(runtime: Runtime, username: str, action: str = "auth.login") -> list[str]:
    name = stored_name(runtime, username)
    with runtime.db.unit_of_work() as session:
        return list(session.scalars(select(AuditEntry.outcome).where(
            AuditEntry.username == name, AuditEntry.action == action).order_by(AuditEntry.id)))


def throttle(runtime: Runtime, username: str) -> LoginThrottle | None:
    with runtime.db.unit_of_work() as session:
        row = session.get(LoginThrottle, stored_name(runtime, username))
        if row is not None:
            session.expunge(row)
        return row


@pytest.fixture
def argon2_verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Spy on the argon2 library (not our code): every hash it is asked to verify a password against."""
    seen: list[str] = []
    original = argon2.PasswordHasher.verify

    def spy(self: argon2.PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        seen.append(hash.decode() if isinstance(hash, bytes) else hash)
        return original(self, hash, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", spy)
    return seen


# -- no username oracle -------------------------------------------------------------------------------
class TestNoUsernameOracle:
    def test_wrong_password_and_unknown_user_answer_identically(self, client: TestClient,
                                                                people: dict[str, str]) -> None:
        wrong = attempt(client, "fra_fp", "not the password at all")
        unknown = attempt(client, "nobody_here", "not the password at all")
        assert_oauth_error(wrong, 400, "invalid_grant")
        assert comparable(wrong) == comparable(unknown)
        assert wrong.content == unknown.content

    @pytest.mark.parametrize("case", ["disabled-right-password", "totp-missing", "totp-wrong",
                                      "long-password", "malformed-username"])
    def test_every_failure_looks_like_the_unknown_user(self, runtime: Runtime, client: TestClient,
                                                       people: dict[str, str], case: str) -> None:
        if case == "disabled-right-password":
            make_user(runtime, username="gone", party="FRA", role="focal_point")
            with runtime.db.unit_of_work() as session:
                disable_user(session, ADMIN, "gone")
        username, password, otp = {
            "disabled-right-password": ("gone", PASSWORD, None),
            "totp-missing": ("fra_otp", PASSWORD, None),
            "totp-wrong": ("fra_otp", PASSWORD, "000000"),
            "long-password": ("fra_fp", "x" * 1024, None),
            "malformed-username": ("-NUL\x00 and space-", PASSWORD, None),
        }[case]
        failed = attempt(client, username, password, otp)
        unknown = attempt(client, "nobody_here", "whatever it is")
        assert_oauth_error(failed, 400, "invalid_grant")
        assert comparable(failed) == comparable(unknown)

    def test_both_paths_verify_one_argon2id_hash_of_the_same_cost(
            self, client: TestClient, people: dict[str, str], argon2_verifications: list[str]) -> None:
        """Behavioural stand-in for equal timing: the unknown user costs one full argon2id check too."""
        attempt(client, "fra_fp", "wrong password")
        attempt(client, "nobody_here", "wrong password")
        assert len(argon2_verifications) == 2
        known, dummy = argon2_verifications
        assert known != dummy
        params = [h.split("$")[2:4] for h in (known, dummy)]
        assert all(h.startswith("$argon2id$") for h in (known, dummy))
        assert params[0] == params[1] == ["v=19", "m=19456,t=2,p=1"]

    def test_known_and_unknown_usernames_are_throttled_alike(self, runtime: Runtime,
                                                              client: TestClient,
                                                              people: dict[str, str]) -> None:
        for _ in range(runtime.settings.login_max_failures):
            assert attempt(client, "fra_fp", "wrong").status_code == 400
            assert attempt(client, "nobody_here", "wrong").status_code == 400
        known, unknown = attempt(client, "fra_fp"), attempt(client, "nobody_here")
        assert_oauth_error(known, 429, "slow_down")
        assert comparable(known)[2] == comparable(unknown)[2]
        assert {k for k in known.headers} == {k for k in unknown.headers}
        for response in (known, unknown):
            assert 1 <= int(response.headers["retry-after"]) <= runtime.settings.login_lockout_seconds + 1


# -- throttling ---------------------------------------------------------------------------------------
class TestLockout:
    @pytest.mark.parametrize("username", ["fra_fp", "nobody_here"])
    def test_locked_after_max_failures_logged_and_audited(
            self, runtime: Runtime, client: TestClient, people: dict[str, str], username: str,
            caplog: pytest.LogCaptureFixture) -> None:
        limit = runtime.settings.login_max_failures
        with caplog.at_level(logging.WARNING, logger="arx.auth"):
            for _ in range(limit):
                assert_oauth_error(attempt(client, username, "wrong"), 400, "invalid_grant")
            # Locked now: even the right password is refused, without being checked.
            locked = attempt(client, username)
        body = assert_oauth_error(locked, 429, "slow_down")
        assert body["error"] == "slow_down"
        assert int(locked.headers["retry-after"]) >= 1
        assert audit_rows(runtime, username) == ["failed"] * limit + ["denied"]
        row = throttle(runtime, username)
        assert row is not None and row.failures == limit and row.locked_until is not None
        messages = [r for r in caplog.records if r.name == "arx.auth" and "locked" in r.getMessage()]
        assert len(messages) == 1
        assert username not in messages[0].getMessage()

    def test_one_failure_short_of_the_limit_is_not_locked(self, runtime: Runtime, client: TestClient,
                                                          people: dict[str, str]) -> None:
        for _ in range(runtime.settings.login_max_failures - 1):
            attempt(client, "fra_fp", "wrong")
        assert attempt(client, "fra_fp").status_code == 200

    def test_success_resets_the_count(self, runtime: Runtime, client: TestClient,
                                      people: dict[str, str]) -> None:
        limit = runtime.settings.login_max_failures
        for _ in range(limit - 1):
            attempt(client, "fra_fp", "wrong")
        assert attempt(client, "fra_fp").status_code == 200
        assert throttle(runtime, "fra_fp") is None
        for _ in range(limit - 1):
            assert attempt(client, "fra_fp", "wrong").status_code == 400
        assert attempt(client, "fra_fp").status_code == 200

    def test_lock_expires_and_grows_on_the_next_failure(self, runtime: Runtime, client: TestClient,
                                                         people: dict[str, str]) -> None:
        runtime.settings.login_lockout_seconds = 1
        for _ in range(runtime.settings.login_max_failures):
            attempt(client, "fra_fp", "wrong")
        assert attempt(client, "fra_fp").status_code == 429
        time.sleep(1.2)
        assert attempt(client, "fra_fp", "wrong").status_code == 400  # lock over; failure counted
        locked = attempt(client, "fra_fp")
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) == 2  # doubled: 1 s, then 2 s

    def test_concurrent_guesses_are_all_counted(self, runtime: Runtime, client: TestClient,
                                                people: dict[str, str]) -> None:
        """Parallel wrong passwords must not share one read of the counter (lost updates)."""
        guesses = 8
        with ThreadPoolExecutor(max_workers=guesses) as pool:
            statuses = list(pool.map(lambda i: attempt(client, "fra_fp", f"guess {i}").status_code,
                                     range(guesses)))
        assert all(s in (400, 429) for s in statuses), statuses
        row = throttle(runtime, "fra_fp")
        assert row is not None and row.failures == statuses.count(400)
        assert audit_rows(runtime, "fra_fp").count("failed") == statuses.count(400)
        assert attempt(client, "fra_fp").status_code == 429


class TestHashingOutsideTransactions:
    """Issue 11, item 9: the argon2 check runs with no transaction open; lockout stays exact."""

    def test_the_password_is_checked_with_no_transaction_open(
            self, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
        make_party(runtime, code="FRA")
        make_user(runtime, username="fra_fp", party="FRA", role="focal_point")
        during: list[tuple[int, str]] = []
        original = argon2.PasswordHasher.verify

        def probe(self: argon2.PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
            # From inside the hash: does this process hold a connection (an open transaction), and
            # can another writer take the database's write lock right now (no waiting)?
            checked_out = runtime.db.engine.pool.checkedout()  # type: ignore[attr-defined]
            during.append((checked_out, another_writer_goes_first(runtime)))
            return original(self, hash, password)

        monkeypatch.setattr(argon2.PasswordHasher, "verify", probe)
        for username, password in (("nobody_here", "wrong"), ("fra_fp", "wrong"), ("fra_fp", PASSWORD)):
            try:
                service.login(runtime, username=username, password=password, otp=None,
                              request_id="probe")
            except Unauthorized:
                pass
        assert during == [(0, "writer first")] * 3

    def test_concurrent_guesses_past_the_limit_are_never_checked(
            self, runtime: Runtime, argon2_verifications: list[str]) -> None:
        make_party(runtime, code="FRA")
        make_user(runtime, username="fra_fp", party="FRA", role="focal_point")
        limit, guesses = runtime.settings.login_max_failures, 12

        def guess(i: int) -> str:
            try:
                service.login(runtime, username="fra_fp", password=f"guess {i}", otp=None,
                              request_id=f"g{i}")
            except (Unauthorized, TooManyRequests) as exc:
                return type(exc).__name__
            return "ok"

        with ThreadPoolExecutor(max_workers=6) as pool:
            outcomes = list(pool.map(guess, range(guesses)))
        # Exactly `limit` guesses were admitted and hashed; every later one was refused unchecked.
        assert len(argon2_verifications) == limit
        assert sorted(outcomes) == sorted(["TooManyRequests"] * (guesses - limit)
                                          + ["Unauthorized"] * limit)
        row = throttle(runtime, "fra_fp")
        assert row is not None and row.failures == limit and row.locked_until is not None
        assert audit_rows(runtime, "fra_fp").count("denied") == guesses - limit
        try:
            service.login(runtime, username="fra_fp", password=PASSWORD, otp=None, request_id="late")
            raise AssertionError("the right password got through a lock")
        except TooManyRequests:
            pass
        assert len(argon2_verifications) == limit

    def test_unknown_usernames_never_reach_the_database_in_clear(self, runtime: Runtime) -> None:
        typed = "Hunter2-my-password"  # typed into the username field by mistake
        with pytest.raises(Unauthorized):
            service.login(runtime, username=typed, password="x", otp=None, request_id="typo")
        with runtime.db.unit_of_work() as session:
            names = list(session.scalars(select(AuditEntry.username)
                                         .where(AuditEntry.action == "auth.login")))
            throttled = list(session.scalars(select(LoginThrottle.username)))
        assert names == throttled == [audit_name(runtime, typed.lower(), known=False)]
        assert names[0].startswith("~") and typed.lower() not in names[0]


def another_writer_goes_first(runtime: Runtime) -> str:
    """Commit a write from another connection without waiting; which one went first, as text."""
    url = runtime.settings.database_url
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.split("///", 1)[1], timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")  # fails at once if a transaction holds the write lock
            conn.execute("UPDATE login_throttle SET failures = failures")
            conn.execute("COMMIT")
        except sqlite3.OperationalError:
            return "writer blocked"
        finally:
            conn.close()
        return "writer first"
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '1ms'"))
            conn.execute(text("UPDATE login_throttle SET failures = failures"))  # every row lock
    except Exception:
        return "writer blocked"
    finally:
        engine.dispose()
    return "writer first"


# -- TOTP ---------------------------------------------------------------------------------------------
def current_step() -> int:
    """The current TOTP step, waiting out the last seconds of a step so a test never straddles two."""
    if time.time() % TOTP_STEP > TOTP_STEP - 4:
        time.sleep(TOTP_STEP - time.time() % TOTP_STEP + 0.1)
    return int(time.time()) // TOTP_STEP


class TestTotp:
    def test_required_and_accepted(self, client: TestClient, people: dict[str, str]) -> None:
        assert_oauth_error(attempt(client, "fra_otp"), 400, "invalid_grant")
        step = current_step()
        code = pyotp.TOTP(people["fra_otp"]).generate_otp(step)
        assert attempt(client, "fra_otp", "wrong password", code).status_code == 400
        assert attempt(client, "fra_otp", otp=code).status_code == 200

    def test_a_code_is_accepted_once(self, client: TestClient, people: dict[str, str]) -> None:
        code = pyotp.TOTP(people["fra_otp"]).generate_otp(current_step())
        assert attempt(client, "fra_otp", otp=code).status_code == 200
        assert_oauth_error(attempt(client, "fra_otp", otp=code), 400, "invalid_grant")

    def test_an_older_code_after_a_newer_one_is_refused(self, client: TestClient,
                                                        people: dict[str, str]) -> None:
        totp, step = pyotp.TOTP(people["fra_otp"]), current_step()
        assert attempt(client, "fra_otp", otp=totp.generate_otp(step)).status_code == 200
        assert_oauth_error(attempt(client, "fra_otp", otp=totp.generate_otp(step - 1)), 400, "invalid_grant")

    @pytest.mark.parametrize("drift", [-1, 1])
    def test_one_step_of_drift_is_accepted(self, client: TestClient, people: dict[str, str],
                                           drift: int) -> None:
        code = pyotp.TOTP(people["fra_otp"]).generate_otp(current_step() + drift)
        assert attempt(client, "fra_otp", otp=code).status_code == 200

    @pytest.mark.parametrize("drift", [-2, 2, -10, 10])
    def test_two_steps_of_drift_are_refused(self, client: TestClient, people: dict[str, str],
                                            drift: int) -> None:
        code = pyotp.TOTP(people["fra_otp"]).generate_otp(current_step() + drift)
        assert_oauth_error(attempt(client, "fra_otp", otp=code), 400, "invalid_grant")

    @pytest.mark.parametrize("otp", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦", "１２３４５６", "²²²²²²",
                                     " 12345", "12345\n", "-12345"])
    def test_malformed_codes_are_refused_not_crashed(self, client: TestClient,
                                                     people: dict[str, str], otp: str) -> None:
        assert_oauth_error(attempt(client, "fra_otp", otp=otp), 400, "invalid_grant")

    def test_concurrent_logins_with_one_code_admit_one(self, client: TestClient,
                                                       people: dict[str, str]) -> None:
        code = pyotp.TOTP(people["fra_otp"]).generate_otp(current_step())
        with ThreadPoolExecutor(max_workers=4) as pool:
            statuses = sorted(pool.map(lambda _: attempt(client, "fra_otp", otp=code).status_code,
                                       range(4)))
        assert statuses == [200, 400, 400, 400]


# -- other refusals -----------------------------------------------------------------------------------
class TestRefusals:
    def test_disabled_user_cannot_log_in(self, runtime: Runtime, client: TestClient,
                                         people: dict[str, str]) -> None:
        login(client, "fra_fp")
        with runtime.db.unit_of_work() as session:
            disable_user(session, ADMIN, "fra_fp")
        assert_oauth_error(attempt(client, "fra_fp"), 400, "invalid_grant")

    @pytest.mark.parametrize("form", [{}, {"username": "fra_fp"}, {"password": PASSWORD},
                                      {"username": "fra_fp", "password": ""},
                                      {"username": "nobody_here", "password": ""}])
    def test_missing_fields_are_invalid_input(self, client: TestClient, people: dict[str, str],
                                              form: dict[str, str]) -> None:
        assert_oauth_error(client.post(TOKEN, data=form), 400, "invalid_request")

    def test_json_body_is_not_a_form(self, client: TestClient, people: dict[str, str]) -> None:
        response = client.post(TOKEN, json={"username": "fra_fp", "password": PASSWORD})
        assert_oauth_error(response, 400, "invalid_request")

    @pytest.mark.parametrize("username", ["a" * 65, "a" * 256, "fra_fp\x00", "é" * 64, "x"])
    def test_hostile_usernames_are_plain_failures(self, client: TestClient, people: dict[str, str],
                                                  username: str) -> None:
        assert_oauth_error(attempt(client, username), 400, "invalid_grant")

    def test_username_is_case_and_space_insensitive(self, client: TestClient,
                                                    people: dict[str, str]) -> None:
        assert attempt(client, "  FRA_FP ").status_code == 200


# -- success, tokens, JWKS, /me, logout ---------------------------------------------------------------
def b64d(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


class TestSuccess:
    def test_token_response_and_claims(self, runtime: Runtime, client: TestClient,
                                       people: dict[str, str]) -> None:
        response = attempt(client, "fra_fp")
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"access_token", "token_type", "expires_in"}
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == runtime.settings.token_ttl_seconds == 900
        header, claims, _ = body["access_token"].split(".")
        assert json.loads(b64d(header)) == {"alg": "ES256", "typ": "at+jwt", "kid": "signing-v1"}
        claims = json.loads(b64d(claims))
        assert claims["iss"] == "urn:arx:platform" and claims["aud"] == "urn:arx:api"
        assert (claims["sub"], claims["party"], claims["role"]) == ("fra_fp", "FRA", "focal_point")
        assert claims["exp"] - claims["iat"] == 900 and claims["nbf"] == claims["iat"]
        assert abs(claims["iat"] - time.time()) < 10
        assert len(claims["jti"]) >= 16
        assert audit_rows(runtime, "fra_fp") == ["ok"]
        assert audit_rows(runtime, "fra_fp", "auth.token_issue") == ["ok"]

    def test_each_login_gets_a_fresh_jti(self, client: TestClient, people: dict[str, str]) -> None:
        jtis = {json.loads(b64d(login(client, "fra_fp").split(".")[1]))["jti"] for _ in range(3)}
        assert len(jtis) == 3

    def test_me(self, client: TestClient, people: dict[str, str]) -> None:
        response = client.get(ME, headers=bearer(login(client, "fra_fp")))
        assert response.status_code == 200
        assert response.json() == {"username": "fra_fp", "party": "FRA", "role": "focal_point"}
        assert_problem(client.get(ME), 401)

    def test_logout_revokes_until_expiry_and_is_audited(self, runtime: Runtime, client: TestClient,
                                                         people: dict[str, str]) -> None:
        token = login(client, "fra_fp")
        claims = json.loads(b64d(token.split(".")[1]))
        response = client.post(LOGOUT, headers=bearer(token))
        assert response.status_code == 204 and response.content == b""
        assert_problem(client.get(ME, headers=bearer(token)), 401)
        with runtime.db.unit_of_work() as session:
            revoked = session.get(RevokedToken, claims["jti"])
            assert revoked is not None and int(revoked.expires_at.timestamp()) == claims["exp"]
        assert audit_rows(runtime, "fra_fp", "auth.token_revoke") == ["ok"]
        assert_problem(client.post(LOGOUT), 401)


    def test_concurrent_logouts_of_one_token_never_fail(self, client: TestClient,
                                                        people: dict[str, str]) -> None:
        token = login(client, "fra_fp")
        with ThreadPoolExecutor(max_workers=4) as pool:
            statuses = list(pool.map(lambda _: client.post(LOGOUT, headers=bearer(token)).status_code,
                                     range(4)))
        assert set(statuses) <= {204, 401} and 204 in statuses, statuses
        assert_problem(client.get(ME, headers=bearer(token)), 401)


class TestJwks:
    def test_public_keys_only(self, runtime: Runtime, client: TestClient) -> None:
        response = client.get("/.well-known/jwks.json")
        assert response.status_code == 200
        keys = response.json()["keys"]
        assert len(keys) == 1
        key = keys[0]
        assert key["kid"] == "signing-v1" and key["alg"] == "ES256" and key["use"] == "sig"
        assert key["kty"] == "EC" and key["crv"] == "P-256"
        assert set(key) <= {"kid", "alg", "use", "kty", "crv", "x", "y"}
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(key)
        private = serialization.load_pem_private_key(
            runtime.keys.current().material("signing", 1), password=None)
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        numbers = private.public_key().public_numbers()
        assert int.from_bytes(b64d(key["x"]), "big") == numbers.x
        assert int.from_bytes(b64d(key["y"]), "big") == numbers.y
        assert private.private_numbers().private_value.to_bytes(32, "big") not in response.content

    def test_a_relying_party_can_verify_tokens_with_the_jwks_alone(self, client: TestClient,
                                                                  people: dict[str, str]) -> None:
        key = client.get("/.well-known/jwks.json").json()["keys"][0]
        public = ec.EllipticCurvePublicNumbers(int.from_bytes(b64d(key["x"]), "big"),
                                               int.from_bytes(b64d(key["y"]), "big"),
                                               ec.SECP256R1()).public_key()
        token = login(client, "fra_fp")
        signing_input, signature = token.rsplit(".", 1)
        raw = b64d(signature)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        public.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        with pytest.raises(InvalidSignature):
            public.verify(der, signing_input.encode() + b"x", ec.ECDSA(hashes.SHA256()))

    def test_needs_no_authentication(self, client: TestClient) -> None:
        response = client.get("/.well-known/jwks.json", headers={"Authorization": "Bearer junk"})
        assert response.status_code == 200


def test_the_user_row_keeps_only_a_hash(runtime: Runtime, people: dict[str, str]) -> None:
    with runtime.db.unit_of_work() as session:
        user = session.scalar(select(User).where(User.username == "fra_otp"))
        assert user is not None and user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        assert people["fra_otp"].encode() not in (user.totp_ciphertext or b"")
