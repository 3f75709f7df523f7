"""ES256 access tokens. The only module that imports python-jose, hardened where jose is lax.

python-jose accepts tokens without ``aud`` when no audience check is required, trusts header fields,
and raises a zoo of exception types on malformed input. Every check here is explicit; any failure is a
``TokenError`` (rendered 401), never a 500.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from jose import jwk, jws, jwt
from jose.exceptions import JOSEError

from app.crypto.keyring import KeyProvider, KeyringError

ALGORITHM = "ES256"
TOKEN_TYPE = "at+jwt"  # RFC 9068 access-token type
MAX_TOKEN_LENGTH = 4096
# Three base64url segments, nothing else: jose's base64 decoder silently skips foreign characters.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
KID_PATTERN = re.compile(r"signing-v([1-9][0-9]{0,5})")  # fullmatch: "$" admits a trailing "\n"
REQUIRED_CLAIMS = ("iss", "aud", "sub", "party", "role", "jti", "iat", "nbf", "exp", "tv")
MAX_EPOCH = 2**33  # year 2242: anything larger is garbage, not a date


class TokenError(Exception):
    """The token is not one this service issued and still honours."""


@dataclass(frozen=True)
class Claims:
    sub: str
    party: str
    role: str
    jti: str
    iat: int
    exp: int
    token_version: int


def kid_for(version: int) -> str:
    return f"signing-v{version}"


class TokenService:
    """Issues and verifies access tokens with the keyring's signing keys."""

    def __init__(self, keys: KeyProvider, *, issuer: str, audience: str, ttl_seconds: int) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds
        self._pem_cache: dict[tuple[int, bytes], tuple[bytes, bytes]] = {}

    def _pems(self, version: int) -> tuple[bytes, bytes]:
        """(private PEM, public PEM) of a usable signing version; KeyringError if retired/unknown."""
        material = self.keys.current().material("signing", version)
        cached = self._pem_cache.get((version, material))
        if cached is None:
            # Derived through jose: only app/crypto imports cryptography (docs/architecture.md).
            public = jwk.construct(material.decode(), ALGORITHM).public_key().to_pem()
            cached = self._pem_cache[(version, material)] = (material, public)
        return cached

    def issue(self, *, username: str, party: str, role: str, token_version: int) -> tuple[str, int]:
        """A signed token and its lifetime in seconds."""
        version = self.keys.current().active_version("signing")
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.audience, "sub": username, "party": party,
                  "role": role, "jti": secrets.token_urlsafe(18), "iat": now, "nbf": now,
                  "exp": now + self.ttl_seconds, "tv": token_version}
        token = jwt.encode(claims, self._pems(version)[0].decode(), algorithm=ALGORITHM,
                           headers={"kid": kid_for(version), "typ": TOKEN_TYPE})
        return token, self.ttl_seconds

    def jwks(self) -> dict[str, Any]:
        """Public keys of every signing version not retired."""
        ring = self.keys.current()
        keys = []
        for version in ring.usable_versions("signing"):
            public_pem = self._pems(version)[1]
            entry = jwk.construct(public_pem.decode(), ALGORITHM).to_dict()
            entry.update({"kid": kid_for(version), "use": "sig", "alg": ALGORITHM})
            keys.append({k: (v.decode() if isinstance(v, bytes) else v) for k, v in entry.items()})
        return {"keys": keys}

    def verify(self, token: str) -> Claims:
        try:
            return self._verify(token)
        except TokenError:
            raise
        except (JOSEError, KeyringError, ValueError, TypeError, KeyError, AttributeError,
                OverflowError, RecursionError) as exc:  # RecursionError: deeply nested JSON header
            raise TokenError("invalid token") from exc

    def _verify(self, token: str) -> Claims:
        if (not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH
                or not TOKEN_SHAPE.fullmatch(token)):
            raise TokenError("malformed token")
        header = jws.get_unverified_header(token)
        if not isinstance(header, dict) or header.get("alg") != ALGORITHM:
            raise TokenError("algorithm not allowed")
        if header.get("typ") != TOKEN_TYPE:
            raise TokenError("wrong token type")
        if "crit" in header or set(header) - {"alg", "typ", "kid"}:
            raise TokenError("unsupported header parameters")
        kid = header.get("kid")
        match = KID_PATTERN.fullmatch(kid) if isinstance(kid, str) else None
        if match is None:
            raise TokenError("unknown key id")
        public_pem = self._pems(int(match.group(1)))[1]
        # Signature and algorithm first (algorithms pinned), then every claim checked by us.
        payload = jws.verify(token, public_pem.decode(), algorithms=[ALGORITHM])
        claims = json.loads(payload)
        if not isinstance(claims, dict):
            raise TokenError("claims are not an object")
        return self._check_claims(claims)

    def _check_claims(self, claims: dict[str, Any]) -> Claims:
        missing = [c for c in REQUIRED_CLAIMS if c not in claims]
        if missing:
            raise TokenError("missing claims")
        for name in ("iat", "nbf", "exp", "tv"):
            value = claims[name]
            if type(value) is not int or not 0 <= value < MAX_EPOCH:
                raise TokenError("bad numeric claim")
        for name in ("iss", "aud", "sub", "party", "role", "jti"):
            if type(claims[name]) is not str:
                raise TokenError("bad string claim")
        if claims["iss"] != self.issuer or claims["aud"] != self.audience:
            raise TokenError("wrong issuer or audience")
        now = int(time.time())
        if claims["exp"] <= now:
            raise TokenError("expired")
        if claims["nbf"] > now or claims["iat"] > now + 5:
            raise TokenError("not yet valid")
        if claims["exp"] - claims["iat"] > self.ttl_seconds:
            raise TokenError("lifetime too long")
        return Claims(sub=claims["sub"], party=claims["party"], role=claims["role"], jti=claims["jti"],
                      iat=claims["iat"], exp=claims["exp"], token_version=claims["tv"])
