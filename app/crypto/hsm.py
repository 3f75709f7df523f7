"""The keyring sealed by an AES key that never leaves a PKCS#11 token (an HSM; SoftHSM2 in tests).

Envelope, as a cloud KMS would do it: each write draws a fresh 256-bit file key, seals the keyring
document with it in software (AES-256-GCM), and has the *token* encrypt the file key under its own AES key
(CKM_AES_GCM, with associated data naming the format, token and key labels). The token key is generated
on the token as sensitive and non-extractable (``arx keys hsm-init``): neither the keyring file, nor a
database dump, nor this process's memory ever holds it. Opening the file needs the token and its PIN.

The file key, not the keyring, goes to the token because tokens and KMS services limit the size of what
they encrypt (a keyring with several ES256 versions passes 4 KiB); any provider that can encrypt and
decrypt 32 bytes with associated data slots in by implementing the same two methods (``KeyringSeal``).

Only this module imports ``pkcs11``; a token's PKCS#11 module is loaded on first use, so deployments
without an HSM never load one.
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pkcs11
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pkcs11 import Attribute, KeyType, Mechanism
from pkcs11 import exceptions as px
from pkcs11.mechanisms import GCMParams

from app.crypto.keyring import KeyringError, b64d, b64e

PKCS11_FORMAT = "arx-keyring-pkcs11/1"
NONCE_BYTES = 12

_libraries: dict[str, Any] = {}
_load_lock = threading.Lock()


def _library(module: Path) -> Any:
    """The PKCS#11 module, loaded once per process (a module may be initialised only once)."""

    key = str(module)
    with _load_lock:
        if key not in _libraries:
            if not module.is_file():
                raise KeyringError(f"PKCS#11 module {module} not found (ARX_PKCS11_MODULE)")
            try:
                _libraries[key] = pkcs11.lib(key)
            except pkcs11.PKCS11Error as exc:
                raise KeyringError(f"PKCS#11 module {module} cannot be loaded "
                                   f"({type(exc).__name__})") from None
        return _libraries[key]


def read_pin(pin: str | None, pin_file: Path | None) -> str:
    """The user PIN from ARX_PKCS11_PIN or the first line of ARX_PKCS11_PIN_FILE (never logged)."""
    if pin:
        return pin
    if pin_file is not None:
        try:
            text = pin_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise KeyringError(f"PKCS#11 PIN file {pin_file} cannot be read ({exc.strerror})") from None
        if text and text[0].strip():
            return text[0].strip()
        raise KeyringError(f"PKCS#11 PIN file {pin_file} is empty")
    raise KeyringError("no PKCS#11 PIN: set ARX_PKCS11_PIN or ARX_PKCS11_PIN_FILE")


@dataclass(frozen=True)
class Pkcs11Seal:
    """KeyringSeal backed by an AES key (by label) on a PKCS#11 token (by label)."""

    module: Path
    token_label: str
    key_label: str
    pin: str = field(default="", repr=False)
    pin_file: Path | None = None

    format = PKCS11_FORMAT
    setting = "ARX_KEYRING_SEAL=pkcs11"

    def _aad(self) -> bytes:
        return f"{PKCS11_FORMAT}|{self.token_label}|{self.key_label}".encode()

    def _call(self, operation: str, work: Any) -> Any:
        """Open a session on the token, run work(session), and turn every PKCS#11 failure into one line."""

        lib = _library(self.module)
        where = f"PKCS#11 token {self.token_label!r}"
        try:
            token = lib.get_token(token_label=self.token_label)
        except px.NoSuchToken:
            raise KeyringError(f"{where} not found (is the HSM connected? ARX_PKCS11_TOKEN_LABEL)") from None
        except px.MultipleTokensReturned:
            raise KeyringError(f"more than one {where}: labels must be unique") from None
        except pkcs11.PKCS11Error as exc:
            raise KeyringError(f"{where} cannot be reached ({type(exc).__name__})") from None
        pin = read_pin(self.pin, self.pin_file)
        try:
            with token.open(user_pin=pin, rw=operation == "generate") as session:
                return work(session)
        except px.PinIncorrect:
            raise KeyringError(f"{where}: wrong PIN (ARX_PKCS11_PIN / ARX_PKCS11_PIN_FILE)") from None
        except (px.PinLocked, px.PinExpired) as exc:
            raise KeyringError(f"{where}: PIN {type(exc).__name__[3:].lower()}") from None
        except px.NoSuchKey:
            raise KeyringError(f"{where} holds no AES key labelled {self.key_label!r}: "
                               "run `arx keys hsm-init` (or check ARX_PKCS11_KEY_LABEL)") from None
        except px.MultipleObjectsReturned:
            raise KeyringError(f"{where} holds several keys labelled {self.key_label!r}") from None
        except KeyringError:
            raise
        except pkcs11.PKCS11Error as exc:
            raise KeyringError(f"{where}: {operation} failed ({type(exc).__name__}): wrong key, "
                               "or the keyring file is damaged") from None

    def _key(self, session: Any) -> Any:

        return session.get_key(label=self.key_label, key_type=KeyType.AES)

    def _gcm(self, nonce: bytes) -> tuple[Any, Any]:

        return Mechanism.AES_GCM, GCMParams(nonce, self._aad(), 128)

    def seal(self, plain: bytes) -> dict[str, Any]:
        file_key = AESGCM.generate_key(bit_length=256)
        nonce, key_nonce = secrets.token_bytes(NONCE_BYTES), secrets.token_bytes(NONCE_BYTES)
        mechanism, param = self._gcm(key_nonce)
        wrapped = self._call("encrypt", lambda s: self._key(s).encrypt(
            file_key, mechanism=mechanism, mechanism_param=param))
        return {"format": PKCS11_FORMAT, "token_label": self.token_label, "key_label": self.key_label,
                "key_mechanism": "CKM_AES_GCM", "key_nonce": b64e(key_nonce), "wrapped_key": b64e(wrapped),
                "nonce": b64e(nonce),
                "ciphertext": b64e(AESGCM(file_key).encrypt(nonce, plain, self._aad()))}

    def unseal(self, doc: dict[str, Any]) -> bytes:
        try:
            key_nonce, wrapped = b64d(doc["key_nonce"]), b64d(doc["wrapped_key"])
            nonce, ciphertext = b64d(doc["nonce"]), b64d(doc["ciphertext"])
            labels = (str(doc["token_label"]), str(doc["key_label"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise KeyringError("sealed keyring file is malformed") from exc
        if labels != (self.token_label, self.key_label):
            raise KeyringError(f"keyring is sealed by key {labels[1]!r} on token {labels[0]!r}, "
                               f"not by the configured {self.key_label!r} on {self.token_label!r}")
        if len(key_nonce) != NONCE_BYTES:
            raise KeyringError("sealed keyring file is malformed")
        mechanism, param = self._gcm(key_nonce)
        file_key = self._call("decrypt", lambda s: bytes(self._key(s).decrypt(
            wrapped, mechanism=mechanism, mechanism_param=param)))
        try:
            return AESGCM(file_key).decrypt(nonce, ciphertext, self._aad())
        except (InvalidTag, ValueError) as exc:
            raise KeyringError("cannot unseal keyring: the sealed file is damaged") from exc

    def generate_key(self) -> bool:
        """Create the AES-256 key on the token (sensitive, non-extractable) unless present; True if made."""

        def work(session: Any) -> bool:
            try:
                self._key(session)
                return False
            except px.NoSuchKey:
                pass
            # Generated inside the token: sensitive and non-extractable, it can be used, never read out.
            session.generate_key(KeyType.AES, 256, label=self.key_label, store=True, template={
                Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.ENCRYPT: True,
                Attribute.DECRYPT: True, Attribute.WRAP: False, Attribute.UNWRAP: False,
                Attribute.PRIVATE: True, Attribute.TOKEN: True})
            return True

        return bool(self._call("generate", work))


def seal_from_settings(seal: str, *, module: Path | None, token_label: str | None, key_label: str,
                       pin: str | None, pin_file: Path | None) -> Pkcs11Seal | None:
    """The PKCS#11 seal when ARX_KEYRING_SEAL=pkcs11 (its settings checked), else None."""
    if seal != "pkcs11":
        return None
    if module is None:
        raise KeyringError("ARX_KEYRING_SEAL=pkcs11 needs ARX_PKCS11_MODULE (the token's PKCS#11 .so)")
    if not token_label:
        raise KeyringError("ARX_KEYRING_SEAL=pkcs11 needs ARX_PKCS11_TOKEN_LABEL")
    return Pkcs11Seal(module=Path(os.path.expanduser(str(module))), token_label=token_label,
                      key_label=key_label, pin=pin or "", pin_file=pin_file)
