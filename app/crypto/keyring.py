"""The versioned keyring in keys/ and the key-provider interface the rest of ARX uses.

Four kinds, each versioned: ``data`` (AES-256 key-encryption keys), ``index`` (blind-index HMAC keys),
``signing`` (ES256 JWT keys) and ``audit`` (Ed25519 checkpoint keys). Each version carries a fingerprint
(kept after retirement) that the database records, so a keyring of another deployment is recognised.

Writes are all-or-nothing under an exclusive lock: the new file is written completely to a temporary
file, fsynced, read back (parsed, unsealed, compared), the previous generation is copied (the same
way) to ``keyring.json.bak``, the temporary file is renamed over the keyring and the directory
fsynced. On any failure the keyring is untouched and the temporary file removed.

A running service re-reads the file when it changes, so CLI rotations reach it within seconds. A file
that cannot be read, parsed or validated, or that a guard refuses (it lacks versions the database refers
to), is not adopted: the service keeps the keys it has in memory and reports the state (``health``).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import os
import secrets
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

KeyKind = Literal["data", "index", "signing", "audit"]
KINDS: tuple[KeyKind, ...] = ("data", "index", "signing", "audit")
KEYRING_FILE = "keyring.json"
BACKUP_FILE = "keyring.json.bak"
LOCK_FILE = ".keyring.lock"
FORMAT = "arx-keyring/1"
SEALED_FORMAT = "arx-keyring-sealed/1"
# scrypt cost n=2**17, r=8, p=1 (128 MiB, OWASP's recommended minimum): the keyring is unsealed only at
# process start and when the file changes, so the cost is paid rarely.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1


log = logging.getLogger("arx.keys")


class KeyringError(Exception):
    """The keyring is missing, unreadable, mis-permissioned or does not hold the asked key."""


class KeyringWriteError(KeyringError):
    """A keyring write failed; the keyring file on disk is the one from before the write."""


class KeyringMismatch(KeyringError):
    """The keyring lacks key versions the database refers to (another deployment's keyring?)."""


class KeyringUnverified(KeyringError):
    """The keyring could not be compared with the database (the database is unreachable)."""


def fingerprint(kind: str, version: int, material: bytes) -> str:
    """A short public digest naming one key version (never usable to recover the key)."""
    label = b"arx-key-fingerprint|%s|%d|" % (kind.encode(), version)
    return hashlib.sha256(label + material).hexdigest()[:32]


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
    fingerprint: str = ""

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


def _validate_material(kind: KeyKind, version: int, material: bytes, public: bytes | None) -> None:
    """Refuse a key of the wrong length or type (a 5-byte data key, a garbage signing key)."""
    where = f"{kind} key version {version}"
    if kind in ("data", "index"):
        if len(material) != 32:
            raise KeyringError(f"{where} has {len(material)} bytes; 32 are required")
    elif kind == "signing":
        try:
            key = serialization.load_pem_private_key(material, password=None)
        except (ValueError, TypeError) as exc:
            raise KeyringError(f"{where} is not a PEM private key") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise KeyringError(f"{where} is not an ES256 (P-256) key")
    else:
        if len(material) != 32:
            raise KeyringError(f"{where} is not a raw 32-byte Ed25519 key")
        derived = Ed25519PrivateKey.from_private_bytes(material).public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        if public is not None and public != derived:
            raise KeyringError(f"{where}: public key does not match the private key")


def _validate_public(kind: KeyKind, version: int, public: bytes | None) -> None:
    if kind == "audit":
        if public is None:
            raise KeyringError(f"audit key version {version} has no public key")
        try:
            Ed25519PublicKey.from_public_bytes(public)
        except ValueError as exc:
            raise KeyringError(f"audit key version {version} has an invalid public key") from exc


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
                     "fingerprint": v.fingerprint,
                     "material": None if v.material is None else b64e(v.material),
                     **({"public": b64e(v.public)} if v.public is not None else {})}
                    for v in self.versions[kind]
                ],
            }
        return {"format": FORMAT, "kinds": kinds}

    @classmethod
    def from_document(cls, doc: Any) -> Keyring:
        """Parse and validate a keyring document; any malformed shape is a one-line KeyringError."""
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise KeyringError("unknown keyring format")
        try:
            return cls._parse(doc)
        except KeyringError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise KeyringError(f"keyring file is malformed ({type(exc).__name__}: {exc})"[:200]) from None

    @classmethod
    def _parse(cls, doc: dict[str, Any]) -> Keyring:
        active: dict[str, int] = {}
        versions: dict[str, tuple[KeyVersion, ...]] = {}
        kinds = doc["kinds"]
        if not isinstance(kinds, dict):
            raise KeyringError("keyring file is malformed (kinds is not an object)")
        for kind in KINDS:
            if kind not in kinds:
                raise KeyringError(f"keyring file is malformed (no {kind} keys)")
            entry = kinds[kind]
            active[kind] = int(entry["active"])
            parsed = []
            for v in entry["versions"]:
                number = int(v["version"])
                if number < 1:
                    raise KeyringError(f"keyring file is malformed ({kind} version {number})")
                material = None if v.get("material") is None else b64d(v["material"])
                public = b64d(v["public"]) if v.get("public") else None
                if material is not None:
                    _validate_material(kind, number, material, public)
                _validate_public(kind, number, public)
                stored = str(v.get("fingerprint") or "")
                if material is not None:
                    computed = fingerprint(kind, number, material)
                    if stored and stored != computed:
                        raise KeyringError(f"{kind} key version {number} does not match its fingerprint")
                    stored = computed
                parsed.append(KeyVersion(version=number, created_at=str(v["created_at"]),
                                         material=material, public=public,
                                         retired_at=v.get("retired_at"), fingerprint=stored))
            numbers = [p.version for p in parsed]
            if len(set(numbers)) != len(numbers):
                raise KeyringError(f"keyring file is malformed (duplicate {kind} versions)")
            versions[kind] = tuple(parsed)
            if not any(p.version == active[kind] and p.usable for p in parsed):
                raise KeyringError(f"keyring file is malformed (active {kind} version "
                                   f"{active[kind]} is missing or retired)")
        return cls(active=active, versions=versions)

    @classmethod
    def generate(cls) -> Keyring:
        now = datetime.now(UTC).isoformat()
        versions: dict[str, tuple[KeyVersion, ...]] = {}
        for kind in KINDS:
            material, public = _new_material(kind)
            versions[kind] = (KeyVersion(1, now, material, public, None, fingerprint(kind, 1, material)),)
        return cls(active={k: 1 for k in KINDS}, versions=versions)

    # -- changes (each returns a new snapshot) -----------------------------------------------------
    def rotated(self, kind: KeyKind) -> Keyring:
        """A new version of kind, made active."""
        new_version = max(v.version for v in self.versions[kind]) + 1
        material, public = _new_material(kind)
        added = KeyVersion(new_version, datetime.now(UTC).isoformat(), material, public, None,
                           fingerprint(kind, new_version, material))
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
        new = tuple(KeyVersion(v.version, v.created_at, None, v.public, now, v.fingerprint)
                    if v.version == version else v for v in self.versions[kind])
        return Keyring(active=dict(self.active), versions={**self.versions, kind: new})


class KeyProvider(Protocol):
    """Where keys come from: the file keyring today, an HSM or KMS tomorrow."""

    def current(self) -> Keyring: ...


def _seal_key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


class KeyringSeal(Protocol):
    """What seals the keyring file: a passphrase (scrypt), a key in a PKCS#11 token, a cloud KMS key.

    ``seal`` turns the plain keyring document into a sealed JSON document whose ``format`` is
    ``self.format``; ``unseal`` reverses it, raising a one-line KeyringError on any failure (wrong secret,
    token absent, tampered file). ``setting`` names the configuration that selects this seal.
    """

    format: str
    setting: str

    def seal(self, plain: bytes) -> dict[str, Any]: ...

    def unseal(self, doc: dict[str, Any]) -> bytes: ...


class PassphraseSeal:
    """The keyring sealed with AES-256-GCM under a key derived from a passphrase (scrypt)."""

    format = SEALED_FORMAT
    setting = "ARX_KEYRING_PASSPHRASE"

    def __init__(self, passphrase: str) -> None:
        self.passphrase = passphrase

    def seal(self, plain: bytes) -> dict[str, Any]:
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
        key = _seal_key(self.passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        return {"format": SEALED_FORMAT,
                "kdf": {"name": "scrypt", "salt": b64e(salt), "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
                "nonce": b64e(nonce),
                "ciphertext": b64e(AESGCM(key).encrypt(nonce, plain, SEALED_FORMAT.encode()))}

    def unseal(self, doc: dict[str, Any]) -> bytes:
        try:
            kdf = doc["kdf"]
            key = _seal_key(self.passphrase, b64d(kdf["salt"]), int(kdf["n"]), int(kdf["r"]), int(kdf["p"]))
            nonce, ciphertext = b64d(doc["nonce"]), b64d(doc["ciphertext"])
        except (KeyError, TypeError, ValueError, AttributeError, MemoryError) as exc:
            raise KeyringError("sealed keyring file is malformed") from exc
        try:
            return AESGCM(key).decrypt(nonce, ciphertext, SEALED_FORMAT.encode())
        except Exception as exc:  # InvalidTag: wrong passphrase or tampered file
            raise KeyringError("cannot unseal keyring: wrong passphrase or damaged file") from exc


# Every sealed format this build knows, with the setting that opens it (for a one-line hint).
SEALED_FORMATS = {SEALED_FORMAT: "set ARX_KEYRING_PASSPHRASE",
                  "arx-keyring-pkcs11/1": "set ARX_KEYRING_SEAL=pkcs11 and the ARX_PKCS11_* settings"}

SealArg = KeyringSeal | str | None


def _as_seal(seal: SealArg) -> KeyringSeal | None:
    """A passphrase string is the passphrase seal; empty or None means a plain (unsealed) file."""
    if isinstance(seal, str):
        return PassphraseSeal(seal) if seal else None
    return seal


def encode_file(ring: Keyring, seal: SealArg) -> bytes:
    plain = json.dumps(ring.to_document(), indent=1).encode()
    sealer = _as_seal(seal)
    if sealer is None:
        return plain
    return json.dumps(sealer.seal(plain), indent=1).encode()


def decode_file(raw: bytes, seal: SealArg) -> Keyring:
    """Parse (and unseal) a keyring file; every malformed shape is a one-line KeyringError."""
    sealer = _as_seal(seal)
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise KeyringError("keyring file is not valid JSON") from exc
    if not isinstance(doc, dict):
        raise KeyringError("unknown keyring format")
    found = doc.get("format")
    if isinstance(found, str) and found in SEALED_FORMATS:
        if sealer is None:
            raise KeyringError(f"keyring is sealed ({found}): {SEALED_FORMATS[found]}")
        if sealer.format != found:
            raise KeyringError(f"keyring is sealed as {found}, not as {sealer.setting} expects: "
                               f"{SEALED_FORMATS[found]}")
        plain = sealer.unseal(doc)
        try:
            doc = json.loads(plain)
        except ValueError as exc:
            raise KeyringError("sealed keyring holds invalid JSON") from exc
    elif sealer is not None:
        raise KeyringError(f"{sealer.setting} is set but the keyring file is not sealed")
    return Keyring.from_document(doc)


Guard = Callable[[Keyring], None]


class FileKeyProvider:
    """The keyring file in the keys dir, re-read when it changes (at most every ``poll_seconds``).

    Once a keyring is in memory, a file that cannot be adopted (missing, unreadable, malformed, or refused
    by the guard) leaves the keys in memory in use: ``health`` tells which, and the refusal is logged
    once per change of state. Before any keyring is in memory those are errors.
    """

    def __init__(self, keys_dir: Path, passphrase: str | None = None, poll_seconds: float = 1.0,
                 guard: Guard | None = None, seal: KeyringSeal | None = None) -> None:
        self.keys_dir = Path(keys_dir)
        self.path = self.keys_dir / KEYRING_FILE
        self.backup_path = self.keys_dir / BACKUP_FILE
        if seal is not None and passphrase:
            raise KeyringError(f"ARX_KEYRING_PASSPHRASE and {seal.setting} exclude each other: set one")
        self.seal: KeyringSeal | None = seal or _as_seal(passphrase)
        self.poll_seconds = poll_seconds
        self.guard = guard
        self._ring: Keyring | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._guard = threading.Lock()
        self.health = "ok"
        self.problem = ""

    # -- reading -----------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.path.exists()

    def check_permissions(self) -> None:
        """Refuse a keyring (or keys dir) that group or others can read."""
        for p, what in ((self.keys_dir, "keys dir"), (self.path, "keyring file")):
            try:
                mode = stat.S_IMODE(p.stat().st_mode)
            except FileNotFoundError:
                raise KeyringError(f"no {what} at {p}: run `arx init`") from None
            if mode & 0o077:
                raise KeyringError(f"{what} {p} is accessible by group/others (mode {mode:o}); "
                                   f"run: chmod {'700' if p == self.keys_dir else '600'} {p}")

    def _file_stamp(self) -> tuple[int, int, int]:
        st = self.path.stat()
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def read_file(self, path: Path | None = None) -> Keyring:
        """Read, parse and validate a keyring file (no guard); KeyringError on anything wrong."""
        path = path or self.path
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise KeyringError(f"no keyring at {path}: run `arx init`") from None
        except OSError as exc:
            raise KeyringError(f"keyring file {path} cannot be read ({exc.strerror})") from None
        return decode_file(raw, self.seal)

    def _load(self) -> Keyring:
        try:
            stamp = self._file_stamp()
        except FileNotFoundError:
            raise KeyringError(f"no keyring at {self.path}: run `arx init`") from None
        except OSError as exc:
            raise KeyringError(f"keyring file {self.path} cannot be read ({exc.strerror})") from None
        if stamp == self._stamp and self._ring is not None:
            return self._ring
        ring = self.read_file()
        if self.guard is not None:
            self.guard(ring)
        self._stamp = stamp
        return ring

    def _set_health(self, state: str, problem: str) -> None:
        if state != self.health:
            if state == "ok":
                log.warning("keyring file usable again; serving with it", extra={"state": state})
            else:
                # Loud, and once per change: the keys in memory keep the service running meanwhile.
                log.error("KEYRING FILE REFUSED: keeping the keys in memory",
                          extra={"state": state, "reason": problem[:200]})
        self.health, self.problem = state, problem

    def current(self) -> Keyring:
        now = time.monotonic()
        ring = self._ring
        if ring is not None and now - self._checked < self.poll_seconds:
            return ring
        with self._guard:
            if self._ring is not None and now - self._checked < self.poll_seconds:
                return self._ring
            try:
                self._ring = self._load()
                self._set_health("ok", "")
            except KeyringError as exc:
                if self._ring is None:
                    raise
                state = ("mismatched" if isinstance(exc, KeyringMismatch)
                         else "unverified" if isinstance(exc, KeyringUnverified)
                         else "missing" if not self.path.exists() else "unreadable")
                self._set_health(state, str(exc))
            self._checked = now
            return self._ring

    def refresh(self) -> Keyring:
        """Re-read now, ignoring the poll interval."""
        self._checked = 0.0
        return self.current()

    def reload_strictly(self) -> Keyring:
        """Read and guard the file now, raising instead of falling back on the keys in memory."""
        with self._guard:
            self._stamp = None
            ring = self._load()
            self._ring, self._checked = ring, time.monotonic()
            self._set_health("ok", "")
            return ring

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

    def _fsync_dir(self) -> None:
        dir_fd = os.open(self.keys_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _write_file(self, path: Path, data: bytes) -> None:
        """Write data completely to a new file and fsync it (os.write may write less than asked)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)

    def _write(self, ring: Keyring, *, keep_backup: bool = True) -> None:
        """All-or-nothing: the keyring file is either the old one or the new one, never a mix."""
        data = encode_file(ring, self.seal)
        tmp = self.path.with_name(f".{KEYRING_FILE}.{os.getpid()}.tmp")
        backup_tmp = self.path.with_name(f".{BACKUP_FILE}.{os.getpid()}.tmp")
        try:
            self._write_file(tmp, data)
            written = decode_file(tmp.read_bytes(), self.seal)
            if written.to_document() != ring.to_document():
                raise KeyringError("the written keyring does not read back as written")
            previous = self.path.read_bytes() if keep_backup and self.path.exists() else None
            if previous is not None:
                # A copy, not a link: a file copied over the keyring in place must not reach the backup.
                self._write_file(backup_tmp, previous)
                os.replace(backup_tmp, self.backup_path)
            os.replace(tmp, self.path)
            self._fsync_dir()
        except (OSError, KeyringError) as exc:
            for leftover in (tmp, backup_tmp):
                with suppress(OSError):
                    leftover.unlink()
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise KeyringWriteError(f"keyring not changed: writing it failed ({reason}); "
                                    f"{self.path} is as it was") from None
        self._stamp = None
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
        """Apply change to the freshly read (and guarded) keyring under the lock; write all-or-nothing."""
        with self.locked():
            self._stamp = None
            current = self.read_file()
            if self.guard is not None:
                self.guard(current)
            ring = change(current)
            self._write(ring)
            return ring

    def restore_backup(self) -> Keyring:
        """Bring back the previous generation (keyring.json.bak); the replaced file becomes the backup
        when it is a valid keyring, else it is kept aside as keyring.json.damaged-<time>."""
        with self.locked():
            ring = self.read_file(self.backup_path)
            if self.guard is not None:
                self.guard(ring)
            damaged = False
            try:
                self.read_file()
            except KeyringError:
                damaged = self.path.exists()
            if damaged:
                aside = self.path.with_name(f"{KEYRING_FILE}.damaged-{int(time.time())}")
                os.replace(self.path, aside)
            self._write(ring, keep_backup=not damaged)
            return ring
