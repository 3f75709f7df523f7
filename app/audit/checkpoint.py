"""Checkpoints as C2SP ``tlog-checkpoint`` bodies in C2SP ``signed-note`` notes, signed with Ed25519.

Body: ``<origin>\\n<tree size>\\n<base64 root hash>\\n``. Signature line: ``— <key name> base64(key hash ‖
signature)``, where the key hash is the first 4 bytes of ``SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)`` and
the signature covers the body. Every audit key version uses the log origin as its key name (signed-note
names may not contain ``+``, and tlog-checkpoint verifiers look the log key up by origin); versions are
told apart by their key hash, and ``AuditCheckpoint.key_version`` records which one signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from app.crypto import ed25519
from app.crypto.keyring import Keyring

ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "  # em dash and a space
_NAME = re.compile(r"^[^\s+]+$")
_SIZE = re.compile(r"^(0|[1-9][0-9]{0,18})$")
MAX_NOTE_BYTES = 16 * 1024


class NoteError(ValueError):
    """A note or checkpoint that is malformed, or whose signature does not verify."""


@dataclass(frozen=True)
class AuditKey:
    """The public half of one audit key version, as verifiers need it."""

    version: int
    name: str
    public_key: bytes

    @property
    def key_hash(self) -> bytes:
        return key_hash(self.name, self.public_key)

    @property
    def key_id(self) -> str:
        return self.key_hash.hex()

    @property
    def vkey(self) -> str:
        """The verifier key string of Go's sumdb/note: name+hex(key hash)+base64(0x01 ‖ key)."""
        return f"{self.name}+{self.key_id}+{_b64(bytes([ED25519]) + self.public_key)}"


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: log origin, tree size and root hash."""

    origin: str
    tree_size: int
    root_hash: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.tree_size}\n{_b64(self.root_hash)}\n"

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        lines = body.split("\n")
        if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
            raise NoteError("a checkpoint body is at least three non-empty lines")
        origin, size, root = lines[0], lines[1], lines[2]
        if not _SIZE.match(size):
            raise NoteError("tree size is not a decimal number")
        try:
            root_hash = base64.b64decode(root, validate=True)
        except binascii.Error as exc:
            raise NoteError("root hash is not base64") from exc
        if len(root_hash) != 32:
            raise NoteError("root hash is not 32 bytes")
        return cls(origin=origin, tree_size=int(size), root_hash=root_hash)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def key_hash(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def audit_keys(ring: Keyring, origin: str) -> list[AuditKey]:
    """Every audit key version that still has its public key (retired versions keep it)."""
    return [AuditKey(version=v.version, name=origin, public_key=v.public)
            for v in ring.versions["audit"] if v.public is not None]


def sign_checkpoint(ring: Keyring, checkpoint: Checkpoint) -> tuple[int, str]:
    """The note for checkpoint signed by the active audit version: (version, note text)."""
    if not _NAME.match(checkpoint.origin):
        raise NoteError("the origin must be non-empty, without spaces or '+'")
    version = ring.active_version("audit")
    key = AuditKey(version, checkpoint.origin, ring.version("audit", version).public or b"")
    body = checkpoint.body()
    signature = ed25519.sign(ring.material("audit", version), body.encode())
    return version, f"{body}\n{SIGNATURE_PREFIX}{key.name} {_b64(key.key_hash + signature)}\n"


def split_note(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """(body, [(key name, key hash, signature)]) of a signed note; NoteError when malformed."""
    if len(note.encode()) > MAX_NOTE_BYTES or not note.endswith("\n"):
        raise NoteError("not a signed note")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("a signed note has a blank line before its signatures")
    body, signature_block = note[:cut + 1], note[cut + 2:]
    signatures = []
    for line in signature_block[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError("malformed signature line")
        name, _, encoded = line[len(SIGNATURE_PREFIX):].partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error as exc:
            raise NoteError("signature is not base64") from exc
        if not _NAME.match(name) or len(raw) < 5:
            raise NoteError("malformed signature line")
        signatures.append((name, raw[:4], raw[4:]))
    return body, signatures


def open_checkpoint(note: str, keys: Iterable[AuditKey]) -> tuple[Checkpoint, AuditKey]:
    """The checkpoint a note carries and the key that signed it, once a known key's signature verifies.

    As signed-note requires, a signature by a known key that fails to verify rejects the whole note.
    """
    body, signatures = split_note(note)
    known = {(k.name, k.key_hash): k for k in keys}
    signer = None
    for name, khash, signature in signatures:
        key = known.get((name, khash))
        if key is None:
            continue
        if not ed25519.verify(key.public_key, signature, body.encode()):
            raise NoteError(f"signature by audit key version {key.version} does not verify")
        signer = signer or key
    if signer is None:
        raise NoteError("no signature by a known audit key")
    checkpoint = Checkpoint.parse(body)
    if checkpoint.origin != signer.name:
        raise NoteError("checkpoint origin does not match the signing key's name")
    return checkpoint, signer
