"""Envelope encryption: a fresh AES-256-GCM data key per sealed document, wrapped by the active KEK.

Associated data binds each ciphertext *and* each wrapped key to the row it belongs to, so moving either to
another row (or changing its author) makes decryption fail instead of returning someone else's plaintext.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.crypto.keyring import KeyProvider, KeyringError

NONCE_BYTES = 12


class DecryptionError(Exception):
    """A ciphertext or wrapped key failed authentication (tampered, moved, or wrong key)."""


@dataclass(frozen=True)
class Sealed:
    """What is stored for one encrypted document: KEK version, wrapped data key, nonce, ciphertext."""

    key_version: int
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes


def _wrap_aad(version: int, aad: bytes) -> bytes:
    return b"arx/dek/v%d|" % version + aad


def _content_aad(aad: bytes) -> bytes:
    return b"arx/content|" + aad


class Envelope:
    """Seal and open documents with keys from a KeyProvider (file keyring, or an HSM/KMS later)."""

    def __init__(self, keys: KeyProvider) -> None:
        self.keys = keys
        self._aead_cache: dict[tuple[int, bytes], AESGCM] = {}

    def _kek(self, version: int) -> AESGCM:
        material = self.keys.current().material("data", version)
        cache_key = (version, material)
        aead = self._aead_cache.get(cache_key)
        if aead is None:
            aead = self._aead_cache[cache_key] = AESGCM(material)
        return aead

    def wrap(self, data_key: bytes, aad: bytes) -> tuple[int, bytes]:
        """Wrap data_key under the active KEK: (version, nonce ‖ ciphertext)."""
        version = self.keys.current().active_version("data")
        nonce = secrets.token_bytes(NONCE_BYTES)
        return version, nonce + self._kek(version).encrypt(nonce, data_key, _wrap_aad(version, aad))

    def unwrap(self, version: int, wrapped: bytes, aad: bytes) -> bytes:
        try:
            kek = self._kek(version)
            return kek.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_aad(version, aad))
        except (InvalidTag, KeyringError) as exc:
            raise DecryptionError("data key cannot be unwrapped") from exc

    def seal(self, plaintext: bytes, aad: bytes) -> Sealed:
        # One random key per document and one encryption under it: GCM nonce reuse cannot happen.
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = secrets.token_bytes(NONCE_BYTES)
        ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, _content_aad(aad))
        version, wrapped = self.wrap(data_key, aad)
        return Sealed(version, wrapped, nonce, ciphertext)

    def open(self, sealed: Sealed, aad: bytes) -> bytes:
        data_key = self.unwrap(sealed.key_version, sealed.wrapped_key, aad)
        try:
            return AESGCM(data_key).decrypt(sealed.nonce, sealed.ciphertext, _content_aad(aad))
        except InvalidTag as exc:
            raise DecryptionError("ciphertext failed authentication") from exc

    def rewrap_many(self, items: Iterable[tuple[int, bytes, bytes]]) -> tuple[int, list[bytes | None]]:
        """Each (version, wrapped key, aad)'s data key wrapped under the active KEK, in one tight loop
        (the keyring read and the ciphers made once per call): the active version and, per item, the new
        wrapped key, or None when it does not unwrap (retired version, damaged or moved key)."""
        ring = self.keys.current()
        active = ring.active_version("data")
        new_kek, new_prefix = AESGCM(ring.material("data", active)), _wrap_aad(active, b"")
        old_keks: dict[int, tuple[AESGCM, bytes] | None] = {}
        urandom = os.urandom
        out: list[bytes | None] = []
        for version, wrapped, aad in items:
            if version not in old_keks:
                usable = version in ring.usable_versions("data")
                old_keks[version] = ((AESGCM(ring.material("data", version)), _wrap_aad(version, b""))
                                     if usable else None)
            old = old_keks[version]
            try:
                if old is None:
                    raise InvalidTag
                data_key = old[0].decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], old[1] + aad)
            except InvalidTag:
                out.append(None)
                continue
            nonce = urandom(NONCE_BYTES)
            out.append(nonce + new_kek.encrypt(nonce, data_key, new_prefix + aad))
        return active, out

    def rewrapped(self, version: int, wrapped: bytes, aad: bytes) -> tuple[int, bytes]:
        """The same data key wrapped under the active KEK; content is never decrypted."""
        return self.wrap(self.unwrap(version, wrapped, aad), aad)
