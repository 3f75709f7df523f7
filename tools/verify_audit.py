"""Verify an ARX audit log from outside, through its HTTP API alone (standard library + httpx).

    python tools/verify_audit.py https://arx.example:8443 --username auditor1 [--cacert server.crt]
        [--token-file F] [--since-checkpoint NOTE] [--dump-leaves F --dump-note F] [--json]

The password is read from $ARX_PASSWORD or asked for; a bearer token can be given instead
($ARX_TOKEN or --token-file). Written from the specifications only — docs/audit-entry-encoding.md,
RFC 6962 (Merkle tree hashing), C2SP signed-note and tlog-checkpoint, RFC 8032 (Ed25519) — and imports
nothing from ARX, so an auditor can read it in one sitting and trust what it checks:

1. the latest checkpoint's signed note verifies under a key of /audit/keys (key hash recomputed);
2. every entry of /audit/entries: SHA-256(0x00 ‖ leaf_input) is its leaf_hash, leaf_input parses under a
   known version tag, and its time, username, party, role, action, object id and outcome are the
   served fields; indexes run from 0 without a gap;
3. the RFC 6962 root of the first tree_size leaves is the checkpoint's root (and, with
   --since-checkpoint, the root of a checkpoint kept earlier is the root of the same leaves' prefix).

Exit status 0 when everything verifies, 1 when something does not (each problem on one line), 2 on usage
or connection errors.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import getpass
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

# -- the entry encoding (docs/audit-entry-encoding.md) ------------------------------------------------
COLUMNS = {
    "arx-audit-entry/1": ("id", "created_at", "username", "party", "role", "action", "object_id", "outcome",
                          "request_id", "detail_key_version", "detail_wrapped_key", "detail_nonce",
                          "detail_ciphertext"),
    "arx-audit-entry/2": ("id", "created_at", "username", "party", "role", "action", "object_id", "outcome",
                          "request_id", "detail_key_id", "detail_nonce", "detail_ciphertext"),
}
SERVED = ("username", "party", "role", "action", "object_id", "outcome")  # served under the same name


class EncodingError(ValueError):
    """Leaf input that is not a valid entry encoding."""


def parse_entry(leaf_input: bytes) -> dict[str, str | None]:
    """The columns of an entry from its leaf input: tag, then per column `~` or `<n>:<n characters>`."""
    try:
        text = leaf_input.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EncodingError("not UTF-8") from exc
    tag = next((t for t in COLUMNS if text.startswith(t)), None)
    if tag is None:
        raise EncodingError("unknown version tag")
    fields: dict[str, str | None] = {"version": tag}
    at = len(tag)
    for column in COLUMNS[tag]:
        if text[at:at + 1] == "~":
            fields[column], at = None, at + 1
            continue
        colon = text.find(":", at)
        digits = text[at:colon]
        canonical = digits.isascii() and digits.isdecimal() and (digits == "0" or digits[0] != "0")
        if colon < 0 or not canonical:
            raise EncodingError(f"bad length before {column}")
        end = colon + 1 + int(digits)
        if end > len(text):
            raise EncodingError(f"{column} runs past the end")
        fields[column], at = text[colon + 1:end], end
    if at != len(text):
        raise EncodingError("trailing bytes after the last column")
    return fields


def served_time(value: str) -> str:
    """A served ISO 8601 timestamp in the encoding's form (UTC, six fraction digits)."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("timestamp without a time zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


# -- RFC 6962 hashing ---------------------------------------------------------------------------------
def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def tree_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 MTH of the leaf hashes, bottom-up with a stack of perfect subtrees (biggest first)."""
    stack: list[tuple[int, bytes]] = []  # (subtree size, hash)
    for leaf in leaves:
        size, node = 1, leaf
        while stack and stack[-1][0] == size:
            left = stack.pop()[1]
            node, size = hashlib.sha256(b"\x01" + left + node).digest(), size * 2
        stack.append((size, node))
    if not stack:
        return hashlib.sha256(b"").digest()
    node = stack.pop()[1]
    while stack:  # fold the right edge: smaller subtrees sit to the right
        node = hashlib.sha256(b"\x01" + stack.pop()[1] + node).digest()
    return node


# -- Ed25519 verification, RFC 8032 §5.1.7 (reference arithmetic; slow, but a note has one signature) --
_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_Point = tuple[int, int, int, int]


def _add(a: _Point, b: _Point) -> _Point:
    x = (a[1] - a[0]) * (b[1] - b[0]) % _P
    y = (a[1] + a[0]) * (b[1] + b[0]) % _P
    c = 2 * a[3] * b[3] * _D % _P
    d = 2 * a[2] * b[2] % _P
    e, f, g, h = y - x, d - c, d + c, y + x
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(s: int, point: _Point) -> _Point:
    q: _Point = (0, 1, 1, 0)
    while s:
        if s & 1:
            q = _add(q, point)
        point, s = _add(point, point), s >> 1
    return q


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    return _P - x if (x & 1) != sign else x


def _decompress(raw: bytes) -> _Point | None:
    y = int.from_bytes(raw, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0) or 0
_G: _Point = (_GX, _GY, 1, _GX * _GY % _P)


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    if len(public) != 32 or len(signature) != 64:
        return False
    a, r = _decompress(public), _decompress(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= _L:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % _L
    left, right = _mul(s, _G), _add(r, _mul(h, a))
    same_x = (left[0] * right[2] - right[0] * left[2]) % _P == 0
    return same_x and (left[1] * right[2] - right[1] * left[2]) % _P == 0


# -- C2SP signed-note and tlog-checkpoint ---------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    name: str
    public_key: bytes

    @property
    def key_hash(self) -> bytes:
        return hashlib.sha256(self.name.encode() + b"\n\x01" + self.public_key).digest()[:4]


@dataclass(frozen=True)
class SignedCheckpoint:
    origin: str
    tree_size: int
    root_hash: bytes
    key: Key


def open_note(note: str, keys: list[Key]) -> SignedCheckpoint:
    """The checkpoint of a note with a valid signature by one of keys; ValueError otherwise."""
    body, sep, block = note.rpartition("\n\n")
    if not sep or not note.endswith("\n"):
        raise ValueError("not a signed note")
    body += "\n"
    signer = None
    for line in block[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise ValueError("malformed signature line")
        name, _, encoded = line[2:].partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error as exc:
            raise ValueError("signature is not base64") from exc
        for key in keys:
            if key.name == name and key.key_hash == raw[:4]:
                if not ed25519_verify(key.public_key, body.encode(), raw[4:]):
                    raise ValueError("a signature by a known key does not verify")
                signer = signer or key
    if signer is None:
        raise ValueError("no signature by a known audit key")
    lines = body.split("\n")
    if len(lines) < 4 or not lines[1].isdecimal():
        raise ValueError("not a tlog-checkpoint body")
    if lines[0] != signer.name:
        raise ValueError("checkpoint origin is not the signing key's name")
    root = base64.b64decode(lines[2], validate=True)
    if len(root) != 32:
        raise ValueError("root hash is not 32 bytes")
    return SignedCheckpoint(origin=lines[0], tree_size=int(lines[1]), root_hash=root, key=signer)


# -- the walk -----------------------------------------------------------------------------------------
@dataclass
class Result:
    checkpoint: SignedCheckpoint | None = None
    note: str = ""
    entries: int = 0
    leaf_inputs: list[bytes] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.checkpoint is not None


def check_entry(item: dict[str, Any], expected_index: int) -> tuple[bytes | None, list[str]]:
    """(leaf hash, problems) of one served entry."""
    where = f"entry at index {item.get('index')}"
    if item.get("index") != expected_index:
        return None, [f"index {expected_index} is missing (the listing jumps to {item.get('index')})"]
    try:
        data = base64.b64decode(item["leaf_input"], validate=True)
        stored = base64.b64decode(item["leaf_hash"], validate=True)
    except (KeyError, binascii.Error):
        return None, [f"{where}: leaf_input or leaf_hash missing or not base64"]
    leaf = leaf_hash(data)
    problems = []
    if leaf != stored:
        problems.append(f"{where}: SHA-256(0x00 ‖ leaf_input) is not the served leaf_hash")
    try:
        fields = parse_entry(data)
    except EncodingError as exc:
        return leaf, [*problems, f"{where}: leaf_input is not an entry encoding ({exc})"]
    for name in SERVED:
        if item.get(name) != fields[name]:
            problems.append(f"{where}: served {name} differs from the one its leaf covers")
    try:
        same_time = served_time(item["timestamp"]) == fields["created_at"]
    except (KeyError, TypeError, ValueError):
        same_time = False
    if not same_time:
        problems.append(f"{where}: served timestamp differs from the one its leaf covers")
    return leaf, problems


def pages(client: httpx.Client, api: str, headers: dict[str, str], limit: int) -> Iterator[dict[str, Any]]:
    after = None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"after": after} if after is not None else {})
        response = client.get(f"{api}/audit/entries", params=params, headers=headers)
        response.raise_for_status()
        body = response.json()
        yield from body["items"]
        if body["next"] is None:
            return
        after = body["next"]


def verify(client: httpx.Client, token: str, *, api: str = "/api/v1", saved_note: str | None = None,
           page: int = 1000, keep_inputs: bool = False) -> Result:
    """Check the log served at client's base URL (see the module doc)."""
    result = Result()
    headers = {"Authorization": f"Bearer {token}"}
    keys_doc = client.get(f"{api}/audit/keys", headers=headers)
    keys_doc.raise_for_status()
    keys = [Key(k["name"], base64.b64decode(k["public_key"])) for k in keys_doc.json()["keys"]
            if k.get("algorithm", "Ed25519") == "Ed25519"]
    response = client.get(f"{api}/audit/checkpoint", headers=headers)
    response.raise_for_status()
    result.note = response.json()["note"]
    try:
        result.checkpoint = open_note(result.note, keys)
    except ValueError as exc:
        result.problems.append(f"the latest checkpoint does not verify: {exc}")
    saved = None
    if saved_note is not None:
        try:
            saved = open_note(saved_note, keys)
        except ValueError as exc:
            result.problems.append(f"the saved checkpoint does not verify: {exc}")
    leaves: list[bytes] = []
    for item in pages(client, api, headers, page):
        leaf, problems = check_entry(item, len(leaves))
        result.problems += problems
        if leaf is None:
            break
        leaves.append(leaf)
        if keep_inputs:
            result.leaf_inputs.append(base64.b64decode(item["leaf_input"]))
    result.entries = len(leaves)
    for label, checkpoint in (("latest", result.checkpoint), ("saved", saved)):
        if checkpoint is None:
            continue
        if checkpoint.tree_size > len(leaves):
            result.problems.append(f"the {label} checkpoint covers {checkpoint.tree_size} entries, the log "
                                   f"serves {len(leaves)} in a row")
        elif tree_root(leaves[:checkpoint.tree_size]) != checkpoint.root_hash:
            result.problems.append(f"the root of the first {checkpoint.tree_size} leaves is not the one "
                                   f"the {label} checkpoint signed")
    return result


def _token(client: httpx.Client, api: str, args: argparse.Namespace) -> str:
    if args.token_file:
        with open(args.token_file, encoding="utf-8") as f:
            return f.read().strip()
    if os.environ.get("ARX_TOKEN"):
        return os.environ["ARX_TOKEN"]
    if not args.username:
        raise SystemExit("give --username, --token-file or $ARX_TOKEN")
    password = os.environ.get("ARX_PASSWORD") or getpass.getpass(f"password of {args.username}: ")
    form = {"grant_type": "password", "username": args.username, "password": password}
    if args.otp:
        form["otp"] = args.otp
    response = client.post(f"{api}/auth/token", data=form)
    if response.status_code != 200:
        raise SystemExit(f"sign-in refused: {response.status_code} {response.text[:200]}")
    return str(response.json()["access_token"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", help="e.g. https://arx.example:8443")
    parser.add_argument("--username")
    parser.add_argument("--otp")
    parser.add_argument("--token-file")
    parser.add_argument("--cacert", help="PEM certificate(s) to trust (e.g. a self-signed server's)")
    parser.add_argument("--since-checkpoint", help="a checkpoint note saved earlier")
    parser.add_argument("--dump-leaves", help="write each leaf_input (base64, one a line) to this file")
    parser.add_argument("--dump-note", help="write the latest checkpoint note to this file")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    api = "/api/v1"
    saved = None
    if args.since_checkpoint:
        with open(args.since_checkpoint, encoding="utf-8") as f:
            saved = f.read()
    try:
        with httpx.Client(base_url=args.base_url, verify=args.cacert or True, timeout=60) as client:
            result = verify(client, _token(client, api, args), api=api, saved_note=saved,
                            keep_inputs=bool(args.dump_leaves))
    except httpx.HTTPError as exc:
        print(f"verify_audit: {exc}", file=sys.stderr)
        return 2
    if args.dump_leaves:
        with open(args.dump_leaves, "w", encoding="ascii") as f:
            f.writelines(base64.b64encode(x).decode() + "\n" for x in result.leaf_inputs)
    if args.dump_note:
        with open(args.dump_note, "w", encoding="utf-8") as f:
            f.write(result.note)
    cp = result.checkpoint
    if args.json:
        print(json.dumps({"ok": result.ok, "entries": result.entries, "problems": result.problems,
                          "tree_size": cp.tree_size if cp else None,
                          "root_hash": base64.b64encode(cp.root_hash).decode() if cp else None}))
    else:
        for problem in result.problems:
            print(problem)
        if result.ok and cp is not None:
            print(f"OK: {result.entries} entries; checkpoint of {cp.tree_size} signed by {cp.key.name} "
                  f"(key hash {cp.key.key_hash.hex()}), root {base64.b64encode(cp.root_hash).decode()}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
