"""The versioned keyring in keys/ and the key-provider interface the rest of ARX uses.

Four kinds, each versioned: ``data`` (AES-256 key-encryption keys), ``index`` (blind-index HMAC keys),
``signing`` (ES256 JWT keys) and ``audit`` (Ed25519 checkpoint keys). The file is written atomically
(temp file + fsync + rename) with mode 0600 under an exclusive lock, optionally sealed with a passphrase
(scrypt-derived AES-256-GCM key). A running service re-reads it when it changes, so CLI rotations reach
it within seconds.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import secrets
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

KeyKind = Literal["data", "index", "signing", "audit"]
KINDS: tuple[KeyKind, ...] = ("data", "index", "signing", "audit")
KEYRING_FILE = "keyring.json"
LOCK_FILE = ".keyring.lock"
FORMAT = "arx-keyring/1"
SEALED_FORMAT = "arx-keyring-sealed/1"
# scrypt cost n=2**17, r=8, p=1 (128 MiB, OWASP's recommended minimum): the keyring is unsealed only at
# process start and when the file changes, so the cost is paid rarely.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1


class KeyringError(Exception):
    """The keyring is missing, unreadable, mis-permissioned or does not hold the asked key."""


def b64e(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def b64d(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass(frozen=True)
class KeyVersion:
    """One version of one kind; ``material`` is None once retired (audit keeps ``public``)."""

    version: int
    created_at: str
    material: bytes | None
    public: bytes | None = None
    retired_at: str | None = None

    @property
    def usable(self) -> bool:
        return self.material is not None


def _new_material(kind: KeyKind) -> tuple[bytes, bytes | None]:
    if kind in ("data", "index"):
        return secrets.token_bytes(32), None
    if kind == "signing":
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        return pem, None
    key25519 = Ed25519PrivateKey.generate()
    raw = key25519.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
    pub = key25519.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw, pub


@dataclass(frozen=True)
class Keyring:
    """An immutable snapshot of the keyring file."""

    active: dict[str, int]
    versions: dict[str, tuple[KeyVersion, ...]]
    _derived: dict[tuple[str, int, str], bytes] = field(default_factory=dict, compare=False, repr=False)

    # -- reading -----------------------------------------------------------------------------------
    def active_version(self, kind: KeyKind) -> int:
        return self.active[kind]

    def version(self, kind: KeyKind, version: int) -> KeyVersion:
        for v in self.versions[kind]:
            if v.version == version:
                return v
        raise KeyringError(f"{kind} key version {version} is not in the keyring")

    def material(self, kind: KeyKind, version: int) -> bytes:
        v = self.version(kind, version)
        if v.material is None:
            raise KeyringError(f"{kind} key version {version} is retired")
        return v.material

    def usable_versions(self, kind: KeyKind) -> list[int]:
        return [v.version for v in self.versions[kind] if v.usable]

    def derive(self, kind: KeyKind, version: int, purpose: str) -> bytes:
        """A 32-byte sub-key for one purpose (HKDF-SHA256), so no key serves two jobs."""
        cache_key = (kind, version, purpose)
        cached = self._derived.get(cache_key)
        if cached is None:
            cached = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                          info=f"arx/{kind}/v{version}/{purpose}".encode()).derive(
                self.material(kind, version))
            self._derived[cache_key] = cached
        return cached

    # -- serialisation -----------------------------------------------------------------------------
    def to_document(self) -> dict[str, Any]:
        kinds: dict[str, Any] = {}
        for kind in KINDS:
            kinds[kind] = {
                "active": self.active[kind],
                "versions": [
                    {"version": v.version, "created_at": v.created_at, "retired_at": v.retired_at,
                     "material": None if v.material is None else b64e(v.material),
                     **({"public": b64e(v.public)} if v.public is not None else {})}
                    for v in self.versions[kind]
                ],
            }
        return {"format": FORMAT, "kinds": kinds}

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Keyring:
        if doc.get("format") != FORMAT:
            raise KeyringError("unknown keyring format")
        active: dict[str, int] = {}
        versions: dict[str, tuple[KeyVersion, ...]] = {}
        for kind in KINDS:
            entry = doc["kinds"][kind]
            active[kind] = int(entry["active"])
            versions[kind] = tuple(
                KeyVersion(version=int(v["version"]), created_at=v["created_at"],
                           material=None if v.get("material") is None else b64d(v["material"]),
                           public=b64d(v["public"]) if v.get("public") else None,
                           retired_at=v.get("retired_at"))
                for v in entry["versions"])
        return cls(active=active, versions=versions)

    @classmethod
    def generate(cls) -> Keyring:
        now = datetime.now(UTC).isoformat()
        versions: dict[str, tuple[KeyVersion, ...]] = {}
        for kind in KINDS:
            material, public = _new_material(kind)
            versions[kind] = (KeyVersion(1, now, material, public),)
        return cls(active={k: 1 for k in KINDS}, versions=versions)

    # -- changes (each returns a new snapshot) -----------------------------------------------------
    def rotated(self, kind: KeyKind) -> Keyring:
        """A new version of kind, made active."""
        new_version = max(v.version for v in self.versions[kind]) + 1
        material, public = _new_material(kind)
        added = KeyVersion(new_version, datetime.now(UTC).isoformat(), material, public)
        return Keyring(active={**self.active, kind: new_version},
                       versions={**self.versions, kind: (*self.versions[kind], added)})

    def retired(self, kind: KeyKind, version: int) -> Keyring:
        """Version's secret material dropped (an audit key keeps its public half for verification)."""
        if version == self.active[kind]:
            raise KeyringError(f"{kind} version {version} is active; rotate first")
        target = self.version(kind, version)
        if target.material is None:
            raise KeyringError(f"{kind} version {version} is already retired")
        now = datetime.now(UTC).isoformat()
        new = tuple(KeyVersion(v.version, v.created_at, None, v.public, now) if v.version == version else v
                    for v in self.versions[kind])
        return Keyring(active=dict(self.active), versions={**self.versions, kind: new})


class KeyProvider(Protocol):
    """Where keys come from: the file keyring today, an HSM or KMS tomorrow."""

    def current(self) -> Keyring: ...


def _seal_key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def encode_file(ring: Keyring, passphrase: str | None) -> bytes:
    plain = json.dumps(ring.to_document(), indent=1).encode()
    if not passphrase:
        return plain
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    key = _seal_key(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    sealed = {"format": SEALED_FORMAT,
              "kdf": {"name": "scrypt", "salt": b64e(salt), "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
              "nonce": b64e(nonce),
              "ciphertext": b64e(AESGCM(key).encrypt(nonce, plain, SEALED_FORMAT.encode()))}
    return json.dumps(sealed, indent=1).encode()


def decode_file(raw: bytes, passphrase: str | None) -> Keyring:
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise KeyringError("keyring file is not valid JSON") from exc
    if doc.get("format") == SEALED_FORMAT:
        if not passphrase:
            raise KeyringError("keyring is sealed: set ARX_KEYRING_PASSPHRASE")
        kdf = doc["kdf"]
        key = _seal_key(passphrase, b64d(kdf["salt"]), int(kdf["n"]), int(kdf["r"]), int(kdf["p"]))
        try:
            plain = AESGCM(key).decrypt(b64d(doc["nonce"]), b64d(doc["ciphertext"]), SEALED_FORMAT.encode())
        except Exception as exc:  # InvalidTag: wrong passphrase or tampered file
            raise KeyringError("cannot unseal keyring: wrong passphrase or damaged file") from exc
        doc = json.loads(plain)
    elif passphrase:
        raise KeyringError("ARX_KEYRING_PASSPHRASE is set but the keyring file is not sealed")
    return Keyring.from_document(doc)


class FileKeyProvider:
    """The keyring file in the keys dir, re-read when it changes (at most every ``poll_seconds``)."""

    def __init__(self, keys_dir: Path, passphrase: str | None = None, poll_seconds: float = 1.0) -> None:
        self.keys_dir = Path(keys_dir)
        self.path = self.keys_dir / KEYRING_FILE
        self.passphrase = passphrase or None
        self.poll_seconds = poll_seconds
        self._ring: Keyring | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._guard = threading.Lock()

    # -- reading -----------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.path.exists()

    def check_permissions(self) -> None:
        """Refuse a keyring (or keys dir) that group or others can read."""
        for p, what in ((self.keys_dir, "keys dir"), (self.path, "keyring file")):
            mode = stat.S_IMODE(p.stat().st_mode)
            if mode & 0o077:
                raise KeyringError(f"{what} {p} is accessible by group/others (mode {mode:o}); "
                                   f"run: chmod {'700' if p == self.keys_dir else '600'} {p}")

    def _file_stamp(self) -> tuple[int, int, int]:
        st = self.path.stat()
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def current(self) -> Keyring:
        now = time.monotonic()
        ring = self._ring
        if ring is not None and now - self._checked < self.poll_seconds:
            return ring
        with self._guard:
            if self._ring is not None and now - self._checked < self.poll_seconds:
                return self._ring
            try:
                stamp = self._file_stamp()
            except FileNotFoundError as exc:
                raise KeyringError(f"no keyring at {self.path}: run `arx init`") from exc
            if stamp != self._stamp or self._ring is None:
                self._ring = decode_file(self.path.read_bytes(), self.passphrase)
                self._stamp = stamp
            self._checked = now
            return self._ring

    def refresh(self) -> Keyring:
        """Re-read now, ignoring the poll interval."""
        self._checked = 0.0
        return self.current()

    # -- writing -----------------------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive lock so two CLI runs cannot interleave read-modify-write of the keyring."""
        self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.keys_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _write(self, ring: Keyring) -> None:
        tmp = self.path.with_name(f".{KEYRING_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, encode_file(ring, self.passphrase))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dir_fd = os.open(self.keys_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self.refresh()

    def create_if_absent(self) -> bool:
        """Create the keys dir (0700) and a fresh keyring (0600); False when one already exists."""
        self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.keys_dir, 0o700)
        with self.locked():
            if self.path.exists():
                return False
            self._write(Keyring.generate())
            return True

    def update(self, change: Callable[[Keyring], Keyring]) -> Keyring:
        """Apply change to the freshly read keyring under the lock and write the result atomically."""
        with self.locked():
            self._stamp = None
            ring = change(decode_file(self.path.read_bytes(), self.passphrase))
            self._write(ring)
            return ring
