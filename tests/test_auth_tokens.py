"""The JWT attack suite, through real HTTP: every forged, tampered, stale or garbage token is a 401.

Tokens are crafted by hand (base64, hmac, ``cryptography``) because python-jose refuses to make most of
them. A validly signed control token built the same way is accepted, so the refusals are not vacuous.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from sqlalchemy import select, update
from starlette.testclient import TestClient

from app.auth.principal import Principal, Role
from app.errors import InvalidInput
from app.runtime import Runtime
from app.users.models import User
from app.users.service import change_password, disable_user
from tests.support.apps import serve
from tests.support.database import DatabaseFactory
from tests.support.factories import (
    ADMIN,
    PASSWORD,
    assert_problem,
    bearer,
    login,
    make_party,
    make_user,
)

ME = "/api/v1/me"


# -- crafting tokens by hand ---------------------------------------------------------------------------
def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def encode_json(value: Any) -> str:
    """A JSON segment; a str is taken as raw JSON text (for what json.dumps cannot write, e.g. 1e400)."""
    raw = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return b64(raw.encode())


def es256(key: ec.EllipticCurvePrivateKey, header: Any, claims: Any) -> str:
    """A JWS signed with ES256 (raw r‖s signature, as RFC 7518 requires)."""
    signing_input = f"{encode_json(header)}.{encode_json(claims)}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def hs256(secret: bytes, header: Any, claims: Any) -> str:
    signing_input = f"{encode_json(header)}.{encode_json(claims)}"
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, claims, signature = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(claims)), signature


@dataclass
class Target:
    """The service under attack and one genuine token of a focal point."""

    runtime: Runtime
    client: TestClient
    token: str

    @property
    def header(self) -> dict[str, Any]:
        return parts(self.token)[0]

    @property
    def claims(self) -> dict[str, Any]:
        return parts(self.token)[1]

    def signing_key(self, version: int = 1) -> ec.EllipticCurvePrivateKey:
        material = self.runtime.keys.current().material("signing", version)
        key = serialization.load_pem_private_key(material, password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key

    def public_pem(self) -> bytes:
        return self.signing_key().public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def public_der(self) -> bytes:
        return self.signing_key().public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    def jwks_text(self) -> str:
        return self.client.get("/.well-known/jwks.json").text

    def sign(self, claims: Any = None, header: Any = None) -> str:
        """Validly signed with the keyring's own key: only the chosen claims/header can be wrong."""
        return es256(self.signing_key(), self.header if header is None else header,
                     self.claims if claims is None else claims)

    def fresh_claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {**self.claims, "iat": now, "nbf": now, "exp": now + 600}
        claims.update(changes)
        return claims


@pytest.fixture(scope="module")
def target(databases: DatabaseFactory, keyring_template: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with serve(databases, keyring_template, tmp_path_factory.mktemp("tokens")) as (runtime, client):
        make_party(runtime, code="FRA")
        make_party(runtime, code="NLD")
        make_user(runtime, username="fra_fp", party="FRA", role="focal_point")
        make_user(runtime, username="nld_fp", party="NLD", role="focal_point")
        yield Target(runtime=runtime, client=client, token=login(client, "fra_fp"))


REFUSAL: dict[str, Any] | None = None


def assert_refused(target: Target, token: str, scheme: str = "Bearer") -> None:
    """401, problem+json, a Bearer challenge, and the one body every refusal shares.

    RFC 6750 §3.1: a presented bearer token that fails is named invalid_token; without one, no code."""
    response = target.client.get(ME, headers={"Authorization": f"{scheme} {token}"})
    body = assert_problem(response, 401)
    presented = scheme.lower() == "bearer" and token != ""
    assert response.headers["www-authenticate"] == ('Bearer error="invalid_token"' if presented
                                                     else "Bearer")
    assert body == {"type": "urn:arx:problem:unauthorized", "title": "Unauthorized", "status": 401,
                    "detail": "Missing or invalid credentials.", "instance": ME}


# -- controls: the crafting itself is sound -----------------------------------------------------------
class TestControls:
    def test_genuine_token_is_accepted(self, target: Target) -> None:
        response = target.client.get(ME, headers=bearer(target.token))
        assert response.status_code == 200, response.text
        assert response.json() == {"username": "fra_fp", "party": "FRA", "role": "focal_point"}

    def test_hand_signed_token_with_genuine_claims_is_accepted(self, target: Target) -> None:
        response = target.client.get(ME, headers=bearer(target.sign(target.fresh_claims())))
        assert response.status_code == 200, response.text

    def test_issued_header_is_es256_with_kid_and_typ(self, target: Target) -> None:
        assert target.header == {"alg": "ES256", "typ": "at+jwt", "kid": "signing-v1"}
        assert {"iss", "aud", "sub", "party", "role", "jti", "iat", "nbf", "exp"} <= set(target.claims)

    def test_no_credentials(self, target: Target) -> None:
        response = target.client.get(ME)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"


# -- algorithm confusion ------------------------------------------------------------------------------
class TestAlgorithm:
    @pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", "", None])
    @pytest.mark.parametrize("signature", ["empty", "original"])
    def test_alg_none(self, target: Target, alg: str | None, signature: str) -> None:
        header = {**target.header, "alg": alg}
        sig = "" if signature == "empty" else target.token.split(".")[2]
        token = f"{encode_json(header)}.{encode_json(target.fresh_claims())}.{sig}"
        assert_refused(target, token)

    def test_alg_header_missing(self, target: Target) -> None:
        header = {k: v for k, v in target.header.items() if k != "alg"}
        assert_refused(target, target.sign(target.fresh_claims(), header))

    @pytest.mark.parametrize("form", ["pem", "pem-no-newline", "der", "jwk", "jwk-canonical", "jwks"])
    @pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
    def test_hmac_signed_with_the_public_key(self, target: Target, form: str, alg: str) -> None:
        """The classic key-confusion attack: the verifier's public key used as an HMAC secret."""
        jwk = json.loads(target.jwks_text())["keys"][0]
        secret = {"pem": target.public_pem(), "pem-no-newline": target.public_pem().rstrip(b"\n"),
                  "der": target.public_der(), "jwk": json.dumps(jwk).encode(),
                  "jwk-canonical": json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode(),
                  "jwks": target.jwks_text().encode()}[form]
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
        signing_input = f"{encode_json({**target.header, 'alg': alg})}.{encode_json(target.fresh_claims())}"
        sig = b64(hmac.new(secret, signing_input.encode(), digest).digest())
        assert_refused(target, f"{signing_input}.{sig}")

    @pytest.mark.parametrize("alg", ["ES384", "ES512", "RS256", "PS256", "EdDSA", "es256", ["ES256"]])
    def test_other_algorithm_labels_over_a_valid_es256_signature(self, target: Target, alg: Any) -> None:
        assert_refused(target, target.sign(target.fresh_claims(), {**target.header, "alg": alg}))

    def test_es256_key_outside_the_keyring_with_a_real_kid(self, target: Target) -> None:
        attacker = ec.generate_private_key(ec.SECP256R1())
        assert_refused(target, es256(attacker, target.header, target.fresh_claims()))

    def test_embedded_jwk_of_the_attackers_key(self, target: Target) -> None:
        """CVE-2018-0114 style: a header that carries its own verification key."""
        attacker = ec.generate_private_key(ec.SECP256R1())
        numbers = attacker.public_key().public_numbers()
        jwk = {"kty": "EC", "crv": "P-256", "x": b64(numbers.x.to_bytes(32, "big")),
               "y": b64(numbers.y.to_bytes(32, "big"))}
        header = {**target.header, "jwk": jwk}
        assert_refused(target, es256(attacker, header, target.fresh_claims()))
        assert_refused(target, es256(target.signing_key(), header, target.fresh_claims()))


# -- signature and tampering --------------------------------------------------------------------------
class TestTampering:
    @pytest.mark.parametrize("change", [{"role": "admin"}, {"role": "auditor"}, {"party": "NLD"},
                                        {"sub": "nld_fp"}, {"exp": 4_000_000_000}, {"tv": 2},
                                        {"aud": "urn:arx:api "}, {"extra": True}])
    def test_claims_changed_under_the_old_signature(self, target: Target, change: dict[str, Any]) -> None:
        header, _, signature = target.token.split(".")
        tampered = {**target.claims, **change}
        assert_refused(target, f"{header}.{encode_json(tampered)}.{signature}")

    def test_header_changed_under_the_old_signature(self, target: Target) -> None:
        _, claims, signature = target.token.split(".")
        header = encode_json({"typ": "at+jwt", "kid": "signing-v1", "alg": "ES256"})  # reordered
        assert_refused(target, f"{header}.{claims}.{signature}")

    @pytest.mark.parametrize("signature", ["", "AAAA", "A" * 86, "flipped", "der", "truncated",
                                           "twice"])
    def test_bad_signatures(self, target: Target, signature: str) -> None:
        header, claims, genuine = target.token.split(".")
        raw = unb64(genuine)
        if signature == "flipped":
            signature = b64(raw[:-1] + bytes([raw[-1] ^ 1]))
        elif signature == "der":  # the same signature in DER, as some libraries wrongly accept
            r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
            signature = b64(encode_dss_signature(r, s))
        elif signature == "truncated":
            signature = b64(raw[:48])
        elif signature == "twice":
            signature = b64(raw + raw)
        assert_refused(target, f"{header}.{claims}.{signature}")

    def test_signature_from_another_token(self, target: Target) -> None:
        other = login(target.client, "nld_fp")
        header, claims, _ = target.token.split(".")
        assert_refused(target, f"{header}.{claims}.{other.split('.')[2]}")


# -- headers: kid, typ, crit --------------------------------------------------------------------------
class TestHeader:
    @pytest.mark.parametrize("kid", ["signing-v999", "signing-v2", "signing-v0", "signing-v01",
                                     "../../etc/passwd", "signing-v1/../../etc/passwd",
                                     "/dev/null", "signing-v1\n", "signing-v1\x00", " signing-v1",
                                     "SIGNING-V1", "data-v1", "audit-v1", "", "signing-v99999999999",
                                     1, None, ["signing-v1"], {"v": 1}])
    def test_unknown_or_path_like_kid(self, target: Target, kid: Any) -> None:
        """Validly signed with the real key: only the kid is wrong."""
        assert_refused(target, target.sign(target.fresh_claims(), {**target.header, "kid": kid}))

    def test_kid_missing(self, target: Target) -> None:
        header = {k: v for k, v in target.header.items() if k != "kid"}
        assert_refused(target, target.sign(target.fresh_claims(), header))

    @pytest.mark.parametrize("typ", ["JWT", "jwt", "at+JWT ", "JOSE", "", None, 1])
    def test_wrong_typ(self, target: Target, typ: Any) -> None:
        assert_refused(target, target.sign(target.fresh_claims(), {**target.header, "typ": typ}))

    def test_typ_missing(self, target: Target) -> None:
        header = {k: v for k, v in target.header.items() if k != "typ"}
        assert_refused(target, target.sign(target.fresh_claims(), header))

    @pytest.mark.parametrize("crit", [["exp"], ["b64"], [], "exp", None])
    def test_crit_header(self, target: Target, crit: Any) -> None:
        assert_refused(target, target.sign(target.fresh_claims(), {**target.header, "crit": crit}))

    @pytest.mark.parametrize("extra", [{"b64": False}, {"jku": "https://evil.example/jwks.json"},
                                       {"x5u": "https://evil.example/cert"}, {"cty": "JWT"},
                                       {"zip": "DEF"}])
    def test_unsupported_header_parameters(self, target: Target, extra: dict[str, Any]) -> None:
        assert_refused(target, target.sign(target.fresh_claims(), {**target.header, **extra}))

    @pytest.mark.parametrize("header", ["[]", '"ES256"', "1", "null", '["alg","ES256"]'])
    def test_header_not_an_object(self, target: Target, header: str) -> None:
        assert_refused(target, target.sign(target.fresh_claims(), header))


# -- claims -------------------------------------------------------------------------------------------
CLAIMS = ["iss", "aud", "sub", "party", "role", "jti", "iat", "nbf", "exp", "tv"]


class TestClaims:
    def test_expired(self, target: Target) -> None:
        now = int(time.time())
        assert_refused(target, target.sign(target.fresh_claims(iat=now - 120, nbf=now - 120,
                                                                exp=now - 1)))

    def test_expires_now(self, target: Target) -> None:
        now = int(time.time())
        assert_refused(target, target.sign(target.fresh_claims(iat=now - 60, nbf=now - 60, exp=now)))

    def test_not_yet_valid(self, target: Target) -> None:
        now = int(time.time())
        assert_refused(target, target.sign(target.fresh_claims(nbf=now + 60, exp=now + 600)))

    def test_issued_in_the_future(self, target: Target) -> None:
        now = int(time.time())
        assert_refused(target, target.sign(target.fresh_claims(iat=now + 60, nbf=now, exp=now + 600)))

    def test_lifetime_longer_than_the_service_issues(self, target: Target) -> None:
        now = int(time.time())
        assert_refused(target, target.sign(target.fresh_claims(iat=now, nbf=now, exp=now + 86_400)))

    @pytest.mark.parametrize("aud", ["urn:arx:other", "", "URN:ARX:API", ["urn:arx:api"],
                                     ["urn:arx:api", "urn:arx:other"], None, 1])
    def test_wrong_audience(self, target: Target, aud: Any) -> None:
        assert_refused(target, target.sign(target.fresh_claims(aud=aud)))

    @pytest.mark.parametrize("iss", ["urn:arx:evil", "", ["urn:arx:platform"], None])
    def test_wrong_issuer(self, target: Target, iss: Any) -> None:
        assert_refused(target, target.sign(target.fresh_claims(iss=iss)))

    @pytest.mark.parametrize("claim", CLAIMS)
    def test_each_required_claim_missing(self, target: Target, claim: str) -> None:
        claims = target.fresh_claims()
        del claims[claim]
        assert_refused(target, target.sign(claims))

    @pytest.mark.parametrize("claim", ["exp", "nbf", "iat", "tv"])
    @pytest.mark.parametrize("raw", ["null", "[1]", '"123"', "1e400", "-1e400", "NaN", "Infinity",
                                     str(2**70), str(2**64), "true", "false", "1.5", "-1", "{}",
                                     "9" * 5000])
    def test_wrong_type_numeric_claims(self, target: Target, claim: str, raw: str) -> None:
        claims = json.dumps({**target.fresh_claims(), claim: "__RAW__"}, separators=(",", ":"))
        assert_refused(target, target.sign(claims.replace('"__RAW__"', raw)))

    @pytest.mark.parametrize("claim", ["iss", "aud", "sub", "party", "role", "jti"])
    @pytest.mark.parametrize("value", [None, 1, True, ["x"], {"x": 1}])
    def test_wrong_type_string_claims(self, target: Target, claim: str, value: Any) -> None:
        assert_refused(target, target.sign(target.fresh_claims(**{claim: value})))

    @pytest.mark.parametrize("claims", ["[]", '"x"', "1", "null", "not json", "", "[" * 3000])
    def test_claims_not_an_object(self, target: Target, claims: str) -> None:
        assert_refused(target, target.sign(claims))

    def test_duplicate_claim_cannot_smuggle_a_second_role(self, target: Target) -> None:
        claims = json.dumps(target.fresh_claims(), separators=(",", ":"))
        smuggled = claims[:-1] + ',"role":"admin"}'
        assert_refused(target, target.sign(smuggled))

    @pytest.mark.parametrize("change", [{"sub": "nobody"}, {"sub": "NLD_FP"}, {"party": "NLD"},
                                        {"role": "admin"}, {"role": "court_investigator"},
                                        {"tv": 2}, {"tv": 0}])
    def test_validly_signed_but_not_matching_the_account(self, target: Target,
                                                         change: dict[str, Any]) -> None:
        """Defence in depth: even a signing-key holder cannot mint rights the account lacks."""
        assert_refused(target, target.sign(target.fresh_claims(**change)))


# -- garbage ------------------------------------------------------------------------------------------
def deep_header() -> str:
    """A header whose JSON nests deeper than Python's recursion limit (a RecursionError, not a 401)."""
    return b64(b"[" * 1100 + b"]" * 1100) + "." + encode_json({}) + "." + b64(b"x")


GARBAGE: dict[str, Callable[[Target], str]] = {
    "empty": lambda t: "",
    "one-segment": lambda t: "abc",
    "two-segments": lambda t: "abc.def",
    "four-segments": lambda t: t.token + ".abc",
    "dots": lambda t: "..",
    "many-dots": lambda t: "....",
    "bad-base64": lambda t: "!!!.@@@.###",
    "padding": lambda t: "====.====.====",
    "non-ascii": lambda t: "é.é.é",
    "unicode-in-signature": lambda t: t.token + "é",
    "junk-in-signature": lambda t: t.token + "~",
    "whitespace-inside": lambda t: t.token[:20] + " " + t.token[20:],
    "header-not-json": lambda t: b64(b"{alg:ES256") + "." + t.token.split(".", 1)[1],
    "header-not-utf8": lambda t: b64(b"\xff\xfe{}") + "." + t.token.split(".", 1)[1],
    "deeply-nested-header": lambda t: deep_header(),
    "100-kb": lambda t: "a" * 100_000,
    "100-kb-of-dots": lambda t: "." * 100_000,
    "100-kb-valid-shape": lambda t: t.token + "A" * 100_000,
    "base64-of-token": lambda t: b64(t.token.encode()),
    "nul-bytes": lambda t: "\x00.\x00.\x00",
    "reversed": lambda t: t.token[::-1],
}


class TestGarbage:
    @pytest.mark.parametrize("name", sorted(GARBAGE))
    def test_garbage_token(self, target: Target, name: str) -> None:
        token = GARBAGE[name](target)
        try:
            token.encode("ascii")
        except UnicodeEncodeError:  # httpx sends str headers as ASCII: send the raw UTF-8 bytes instead
            response = target.client.get(ME, headers={"Authorization": b"Bearer " + token.encode()})
            assert_problem(response, 401)
            return
        assert_refused(target, token)

    @pytest.mark.parametrize("scheme", ["Basic", "Token", "JWT", "Bearer:", "Bearerx"])
    def test_genuine_token_under_another_scheme(self, target: Target, scheme: str) -> None:
        assert_refused(target, target.token, scheme=scheme)

    @pytest.mark.parametrize("value", ["", "Bearer", "Bearer ", "Bearer  ", "x"])
    def test_malformed_authorization_header(self, target: Target, value: str) -> None:
        response = target.client.get(ME, headers={"Authorization": value})
        assert_problem(response, 401)

    def test_token_in_query_string_is_not_a_credential(self, target: Target) -> None:
        assert_problem(target.client.get(ME, params={"access_token": target.token}), 401)


# -- revocation: logout, disable, role/party change, key retirement -----------------------------------
class TestRevocation:
    def test_token_after_logout(self, target: Target) -> None:
        token, other = login(target.client, "fra_fp"), login(target.client, "fra_fp")
        assert target.client.get(ME, headers=bearer(token)).status_code == 200
        assert target.client.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 204
        assert_refused(target, token)
        # Logging out again with the dead token is refused too, and the user's other token lives on.
        assert_problem(target.client.post("/api/v1/auth/logout", headers=bearer(token)), 401)
        assert target.client.get(ME, headers=bearer(other)).status_code == 200

    def test_hand_signed_copy_of_a_logged_out_token(self, target: Target) -> None:
        """Revocation is by jti: re-signing the same claims (another signature) does not revive it."""
        token = login(target.client, "fra_fp")
        assert target.client.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 204
        header, claims, _ = parts(token)
        assert_refused(target, target.sign(claims, header))

    def test_token_after_user_disabled(self, target: Target) -> None:
        make_user(target.runtime, username="to_disable", party="FRA", role="focal_point")
        token = login(target.client, "to_disable")
        assert target.client.get(ME, headers=bearer(token)).status_code == 200
        with target.runtime.db.unit_of_work() as session:
            disable_user(session, ADMIN, "to_disable")
        assert_refused(target, token)
        # A hand-made token with the new token_version is refused as well: disabled means disabled.
        claims = {**parts(token)[1], "tv": parts(token)[1]["tv"] + 1}
        assert_refused(target, target.sign(claims))

    @pytest.mark.parametrize(("username", "change"), [("to_auditor", {"role": "auditor"}),
                                                      ("to_nld", {"party_code": "NLD"}),
                                                      ("bumped_only", {})])
    def test_token_after_role_or_party_change(self, target: Target, username: str,
                                              change: dict[str, Any]) -> None:
        make_user(target.runtime, username=username, party="FRA", role="focal_point")
        token = login(target.client, username)
        with target.runtime.db.unit_of_work() as session:
            session.execute(update(User).where(User.username == username)
                            .values(**change, token_version=User.token_version + 1))
        assert_refused(target, token)
        assert target.client.get(ME, headers=bearer(login(target.client, username))).status_code == 200

    def test_two_password_changes_at_once_cannot_both_pass_on_the_old_password(self, target: Target) -> None:
        """The second, made while the first is uncommitted, checks the password the first set: each
        would otherwise bump the token version it read, and a session meant to die would survive."""
        runtime = target.runtime
        make_user(runtime, username="twice", party="FRA", role="focal_point")
        with runtime.db.reading() as session:
            user_id = session.scalar(select(User.id).where(User.username == "twice"))
        principal = Principal(username="twice", party="FRA", role=Role("focal_point"), user_id=user_id,
                              request_id="test-twice")
        outcome: list[str] = []

        def second() -> None:
            try:
                with runtime.db.unit_of_work() as session:
                    change_password(session, principal, current=PASSWORD, new="second new password 42")
                outcome.append("changed")
            except InvalidInput:
                outcome.append("refused")

        thread = threading.Thread(target=second)
        with runtime.db.unit_of_work() as session:
            change_password(session, principal, current=PASSWORD, new="first new password 42")
            thread.start()
            thread.join(timeout=1.5)
        thread.join(timeout=30)
        assert outcome == ["refused"]
        login(target.client, "twice", "first new password 42")

    def test_role_change_alone_kills_the_token(self, target: Target) -> None:
        """Even if an administrator forgot to bump token_version, the claims no longer match."""
        make_user(target.runtime, username="demoted", party="FRA", role="focal_point")
        token = login(target.client, "demoted")
        with target.runtime.db.unit_of_work() as session:
            session.execute(update(User).where(User.username == "demoted").values(role="auditor"))
        assert_refused(target, token)


class TestKeyRotation:
    def test_rotation_keeps_old_tokens_and_retirement_kills_them(
            self, databases: DatabaseFactory, keyring_template: Path, tmp_path: Path) -> None:
        with serve(databases, keyring_template, tmp_path) as (runtime, client):
            make_party(runtime, code="FRA")
            make_user(runtime, username="fra_fp", party="FRA", role="focal_point")
            old = login(client, "fra_fp")
            runtime.keys.update(lambda ring: ring.rotated("signing"))
            runtime.keys.refresh()
            new = login(client, "fra_fp")
            assert parts(new)[0]["kid"] == "signing-v2"
            kids = {k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]}
            assert kids == {"signing-v1", "signing-v2"}
            assert client.get(ME, headers=bearer(old)).status_code == 200
            runtime.keys.update(lambda ring: ring.retired("signing", 1))
            runtime.keys.refresh()
            assert_problem(client.get(ME, headers=bearer(old)), 401)
            assert client.get(ME, headers=bearer(new)).status_code == 200
            kids = {k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]}
            assert kids == {"signing-v2"}
