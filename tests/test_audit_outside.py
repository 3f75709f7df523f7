"""Verifying the audit log from outside (issue 20, item 1): the served `leaf_input`, the independent
verifier `tools/verify_audit.py` (no ARX code), and Go's reference `sumdb/tlog` and `sumdb/note`.

Attacks are real: an insider rewrites the audit tables (triggers dropped), and a lying server (or anyone
in the path) rewrites what the API answers; each must be reported by the outside verifier."""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, text

from app.audit.models import AuditEntry, AuditLeaf
from app.audit.record import Action, detail_aad
from app.audit.sequencer import seal_pending
from tests.support.audit import drop_triggers
from tests.support.database import DatabaseFactory
from tests.support.e2e import Server, Site, make_site
from tests.support.factories import PASSWORD, World, notice_document
from tools import verify_audit
from tools.verify_audit import EncodingError, parse_entry

ROOT = Path(__file__).resolve().parent.parent
VERIFIER = ROOT / "tools" / "verify_audit.py"
GO_SOURCE = ROOT / "tools" / "tlog_check" / "main.go"
Edit = Callable[[str, Any], Any]


def sealed_world(world: World) -> None:
    """Some traffic (a notice, a search whose query is sealed in its entry, a format-1 entry), sealed."""
    world.post_notice("fra_fp")
    r = world.client.post("/api/v1/search/subjects", json={"name": "Jean-Pierre Exemple"},
                          headers=world.headers("icc_inv"))
    assert r.status_code == 200, r.text
    runtime = world.runtime
    sealed = runtime.envelope.seal(b'{"q": "Obscure Canary"}', detail_aad(f"old-request|{Action.SEARCH}"))
    with runtime.db.unit_of_work() as session:  # written as before format 2 existed
        session.add(AuditEntry(username="cli:old", party="-", role="admin", action=str(Action.SEARCH),
                               outcome="ok", request_id="old-request", entry_format=1,
                               detail_key_version=sealed.key_version, detail_wrapped_key=sealed.wrapped_key,
                               detail_nonce=sealed.nonce, detail_ciphertext=sealed.ciphertext))
    seal_pending(runtime)


def served_entries(world: World) -> list[dict[str, Any]]:
    return list(verify_audit.pages(world.client, "/api/v1", world.headers("fra_auditor"), 50))


def insider_rewrites_a_create(world: World, assignment: str) -> dict[str, Any]:
    """After sealing, an insider (triggers dropped) rewrites a notice.create entry; its served item."""
    sealed_world(world)
    target = next(i for i in served_entries(world) if i["action"] == "notice.create")
    with world.runtime.db.engine.begin() as conn:
        drop_triggers(conn)
        conn.execute(text(f"UPDATE audit_entry SET {assignment} WHERE id = "
                          "(SELECT entry_id FROM audit_leaf WHERE tree_index = :i)"), {"i": target["index"]})
    return target


class Lying(httpx.BaseTransport):
    """A server (or a man in the middle) that rewrites JSON answers: edit(path, body) -> body."""

    def __init__(self, upstream: httpx.Client, edit: Edit) -> None:
        self.upstream, self.edit = upstream, edit

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.upstream.send(request)
        response.read()
        return httpx.Response(response.status_code, json=self.edit(request.url.path, response.json()))


def verify_through(world: World, edit: Edit | None = None, **kw: Any) -> verify_audit.Result:
    token = world.tokens["fra_auditor"]
    if edit is None:
        return verify_audit.verify(world.client, token, page=40, **kw)
    with httpx.Client(base_url="https://testserver", transport=Lying(world.client, edit)) as client:
        return verify_audit.verify(client, token, page=40, **kw)


def on_entries(change: Callable[[list[dict[str, Any]]], None]) -> Edit:
    def edit(path: str, body: Any) -> Any:
        if path.endswith("/audit/entries"):
            change(body["items"])
        return body
    return edit


def item_where(items: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    return next((i for i in items if all(i.get(k) == v for k, v in match.items())), None)


class TestLeafInput:
    def test_every_item_serves_the_bytes_of_its_leaf_and_they_are_the_rows_columns(self,
                                                                                   world: World) -> None:
        sealed_world(world)
        items = served_entries(world)
        with world.runtime.db.unit_of_work() as session:
            rows = {i: e for i, e in session.execute(
                select(AuditLeaf.tree_index, AuditEntry).join(AuditEntry,
                                                              AuditEntry.id == AuditLeaf.entry_id))}
        assert len(items) >= len(rows) - 1 and {i["index"] for i in items} <= set(rows)
        versions = set()
        for item in items:
            data = base64.b64decode(item["leaf_input"])
            assert hashlib.sha256(b"\x00" + data).digest() == base64.b64decode(item["leaf_hash"])
            fields, row = parse_entry(data), rows[item["index"]]
            versions.add(fields["version"])
            assert fields["id"] == str(row.id) and fields["request_id"] == row.request_id
            for name in ("username", "party", "role", "action", "object_id", "outcome"):
                assert fields[name] == item[name] == getattr(row, name)
            assert fields["created_at"] == row.created_at.strftime("%Y-%m-%d %H:%M:%S.%f")
            for column in ("detail_ciphertext", "detail_nonce"):
                value = getattr(row, column)
                assert fields[column] == (value.hex() if value is not None else None)
            if fields["version"] == "arx-audit-entry/2":
                assert fields["detail_key_id"] == row.detail_key_id and "detail_wrapped_key" not in fields
            else:
                assert fields["detail_wrapped_key"] == row.detail_wrapped_key.hex()
                assert fields["detail_key_version"] == str(row.detail_key_version)
        assert versions == {"arx-audit-entry/1", "arx-audit-entry/2"}

    def test_sealed_details_appear_only_as_ciphertext(self, world: World) -> None:
        sealed_world(world)
        items = served_entries(world)
        searches = [i for i in items if i["action"] == str(Action.SEARCH)]
        assert len(searches) == 2
        for item in searches:
            fields = parse_entry(base64.b64decode(item["leaf_input"]))
            assert fields["detail_ciphertext"] and len(fields["detail_ciphertext"]) > 32
        served = json.dumps(items).encode()
        every_input = b"".join(base64.b64decode(i["leaf_input"]) for i in items)
        for canary in (b"Exemple", b"Jean", b"Obscure", b"Canary", b"EXEMPLE"):
            assert canary not in served and canary not in every_input.upper() and canary not in every_input

    @pytest.mark.parametrize("bad", [b"arx-audit-entry/3~", b"arx-audit-entry/2" + b"~" * 11,
                                     b"arx-audit-entry/2" + b"~" * 13,
                                     b"arx-audit-entry/2" + b"5:abc" + b"~" * 11,
                                     b"arx-audit-entry/2" + b"01:a" + b"~" * 11, b"\xff"])
    def test_the_parser_refuses_what_is_not_an_encoding(self, bad: bytes) -> None:
        with pytest.raises(EncodingError):
            parse_entry(bad)

    def test_only_auditors_read_entries(self, world: World) -> None:
        for who in ("fra_fp", "icc_inv", "icc_admin"):
            r = world.client.get("/api/v1/audit/entries", headers=world.headers(who))
            assert r.status_code == 403 and "leaf_input" not in r.text


class TestOutsideVerifier:
    def test_the_verifier_imports_only_the_standard_library_and_httpx(self) -> None:
        tree = ast.parse(VERIFIER.read_text())
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
            a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        roots = {str(m).split(".")[0] for m in modules}
        assert roots - sys.stdlib_module_names == {"httpx"}

    def test_its_ed25519_agrees_with_cryptography(self) -> None:
        for _ in range(4):
            key = Ed25519PrivateKey.generate()
            public = key.public_key().public_bytes_raw()
            message = secrets.token_bytes(secrets.randbelow(200))
            signature = key.sign(message)
            assert verify_audit.ed25519_verify(public, message, signature)
            assert not verify_audit.ed25519_verify(public, message + b"x", signature)
            flipped = bytes([signature[0] ^ 1]) + signature[1:]
            assert not verify_audit.ed25519_verify(public, message, flipped)
            other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
            assert not verify_audit.ed25519_verify(other, message, signature)

    def test_an_intact_log_verifies_and_a_saved_checkpoint_is_extended(self, world: World) -> None:
        sealed_world(world)
        saved = world.client.get("/api/v1/audit/checkpoint", headers=world.headers("icc_inv")).json()
        world.post_notice("fra_fp")
        seal_pending(world.runtime)
        result = verify_through(world, saved_note=saved["note"])
        assert result.ok, result.problems
        assert result.checkpoint is not None
        assert result.entries >= result.checkpoint.tree_size > saved["tree_size"]

    def test_an_insider_who_rewrites_an_entry_is_caught_by_its_leaf(self, world: World) -> None:
        target = insider_rewrites_a_create(world, "action = 'notice.list'")
        result = verify_through(world)
        assert not result.ok
        assert f"entry at index {target['index']}: SHA-256(0x00 ‖ leaf_input) is not the served leaf_hash" \
            in result.problems

    def test_an_insider_who_also_rewrites_the_leaf_hash_is_caught_by_the_signed_root(self,
                                                                                     world: World) -> None:
        target = insider_rewrites_a_create(world, "outcome = 'denied'")
        forged = next(i for i in served_entries(world) if i["index"] == target["index"])
        with world.runtime.db.engine.begin() as conn:
            conn.execute(text("UPDATE audit_leaf SET leaf_hash = :h WHERE tree_index = :i"), {
                "h": hashlib.sha256(b"\x00" + base64.b64decode(forged["leaf_input"])).digest(),
                "i": target["index"]})
        result = verify_through(world)
        assert not result.ok
        assert any("is not the one the latest checkpoint signed" in p for p in result.problems), \
            result.problems
        assert not any("leaf_hash" in p or "differs" in p for p in result.problems)

    @pytest.mark.parametrize(("name", "value"), [("username", "someone_else"), ("party", "NLD"),
                                                 ("role", "auditor"), ("action", "notice.list"),
                                                 ("object_id", None), ("outcome", "denied"),
                                                 ("timestamp", "2020-01-01T00:00:00Z")])
    def test_a_served_field_that_is_not_in_its_leaf_is_reported(self, world: World, name: str,
                                                               value: Any) -> None:
        sealed_world(world)
        target = item_where(served_entries(world), action="notice.create")
        assert target is not None and target[name] != value

        def change(items: list[dict[str, Any]]) -> None:
            for item in items:
                if item["index"] == target["index"]:
                    item[name] = value
        result = verify_through(world, on_entries(change))
        shown = "timestamp" if name == "timestamp" else name
        assert result.problems == [f"entry at index {target['index']}: served {shown} differs from the one "
                                   "its leaf covers"]

    def test_a_hidden_entry_or_a_replayed_one_is_reported(self, world: World) -> None:
        sealed_world(world)

        def hide_3(items: list[dict[str, Any]]) -> None:
            items[:] = [i for i in items if i["index"] != 3]
        hide = on_entries(hide_3)
        assert "index 3 is missing (the listing jumps to 4)" in verify_through(world, hide).problems

        def replay(items: list[dict[str, Any]]) -> None:
            for item in items:
                if item["index"] == 3:
                    first = items[0]
                    item.update({k: first[k] for k in first if k != "index"})
        problems = verify_through(world, on_entries(replay)).problems
        assert len(problems) == 1 and re.fullmatch(
            r"the root of the first \d+ leaves is not the one the latest checkpoint signed", problems[0])

    def test_a_forged_or_foreign_checkpoint_is_reported(self, world: World) -> None:
        sealed_world(world)

        def forge(path: str, body: Any) -> Any:
            if path.endswith("/audit/checkpoint"):
                size = body["note"].split("\n")[1]
                body["note"] = body["note"].replace(f"\n{size}\n", f"\n{int(size) - 1}\n")
            return body
        assert any("latest checkpoint does not verify: a signature by a known key does not verify" in p
                   for p in verify_through(world, forge).problems)
        rogue = Ed25519PrivateKey.generate()

        def foreign(path: str, body: Any) -> Any:
            if path.endswith("/audit/keys"):
                body["keys"] = [{"name": k["name"], "algorithm": "Ed25519", "public_key": base64.b64encode(
                    rogue.public_key().public_bytes_raw()).decode()} for k in body["keys"]]
            return body
        assert any("no signature by a known audit key" in p for p in verify_through(world, foreign).problems)


# -- Go's reference implementation -------------------------------------------------------------------
@pytest.fixture(scope="session")
def tlog_check(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tools/tlog_check built offline in GOPATH mode against Debian's golang-golang-x-mod-dev."""
    if shutil.which("go") is None:
        pytest.skip("go is not installed (.ci/run installs golang-go and golang-golang-x-mod-dev)")
    out = tmp_path_factory.mktemp("go")
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": os.environ.get("ARX_GOPATH", "/usr/share/gocode"),
           "GOCACHE": str(out / "cache"), "GOFLAGS": ""}
    binary = out / "tlog_check"
    build = subprocess.run(["go", "build", "-o", str(binary), str(GO_SOURCE)], env=env, capture_output=True,
                           text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    return binary


def run_go(binary: Path, vkeys: list[str], note: str, leaves: list[str],
           tmp: Path) -> subprocess.CompletedProcess[str]:
    note_path = tmp / f"note-{secrets.token_hex(4)}"
    note_path.write_text(note)
    args = [str(binary), "-note", str(note_path)]
    for vkey in vkeys:
        args += ["-vkey", vkey]
    return subprocess.run(args, input="".join(x + "\n" for x in leaves), capture_output=True, text=True,
                          timeout=120)


class TestGoTlog:
    def test_tlog_computes_the_signed_root_from_the_served_leaf_inputs(self, world: World, tlog_check: Path,
                                                                       tmp_path: Path) -> None:
        sealed_world(world)
        checkpoint = world.client.get("/api/v1/audit/checkpoint", headers=world.headers("icc_inv")).json()
        vkeys = [k["vkey"] for k in world.client.get("/api/v1/audit/keys").json()["keys"]]
        inputs = [i["leaf_input"] for i in served_entries(world)]
        done = run_go(tlog_check, vkeys, checkpoint["note"], inputs, tmp_path)
        assert done.returncode == 0, done.stderr + done.stdout
        report = json.loads(done.stdout)
        assert report["roots_agree"] and report["tlog_root"] == checkpoint["root_hash"]
        assert report["tree_size"] == checkpoint["tree_size"] and report["leaves"] >= checkpoint["tree_size"]
        assert report["origin"] == world.runtime.settings.audit_origin

        # One leaf input changed (an insider who rewrote an entry and its stored leaf hash): tlog disagrees.
        altered = base64.b64decode(inputs[2]).replace(b"ok", b"no", 1)
        assert altered != base64.b64decode(inputs[2])
        tampered = [*inputs[:2], base64.b64encode(altered).decode(), *inputs[3:]]
        done = run_go(tlog_check, vkeys, checkpoint["note"], tampered, tmp_path)
        assert done.returncode == 1 and json.loads(done.stdout)["roots_agree"] is False

    def test_note_verifies_only_under_the_logs_key(self, world: World, tlog_check: Path,
                                                   tmp_path: Path) -> None:
        sealed_world(world)
        checkpoint = world.client.get("/api/v1/audit/checkpoint", headers=world.headers("icc_inv")).json()
        vkeys = [k["vkey"] for k in world.client.get("/api/v1/audit/keys").json()["keys"]]
        inputs = [i["leaf_input"] for i in served_entries(world)]
        size = checkpoint["tree_size"]
        forged = checkpoint["note"].replace(f"\n{size}\n", f"\n{size - 1}\n")
        done = run_go(tlog_check, vkeys, forged, inputs, tmp_path)
        assert done.returncode == 1 and "note does not verify" in done.stderr
        name = world.runtime.settings.audit_origin
        rogue = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
        rogue_hash = hashlib.sha256(name.encode() + b"\n\x01" + rogue).digest()[:4]
        encoded = base64.b64encode(b"\x01" + rogue).decode()
        rogue_vkey = f"{name}+{rogue_hash.hex()}+{encoded}"
        done = run_go(tlog_check, [rogue_vkey], checkpoint["note"], inputs, tmp_path)
        assert done.returncode == 1 and "note does not verify" in done.stderr


# -- the command line, against a real `arx serve` over TLS ------------------------------------------------
@pytest.fixture(scope="module")
def served(databases: DatabaseFactory,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, Server]]:
    site = make_site(tmp_path_factory.mktemp("outside") / "site", databases.empty())
    server = Server(site).start()
    yield site, server
    server.stop()


@pytest.mark.slow
class TestAgainstARealServer:
    def test_the_command_line_verifies_and_feeds_go(self, served: tuple[Site, Server], tmp_path: Path,
                                                   request: pytest.FixtureRequest) -> None:
        site, server = served
        with server.client() as client:
            token = server.token("fra_fp")
            for _ in range(3):
                r = client.post("/api/v1/notices", json=notice_document(recipients=["NLD"]),
                                headers={"Authorization": f"Bearer {token}"})
                assert r.status_code == 201, r.text
        site.arx("audit", "seal")
        leaves, note = tmp_path / "leaves.txt", tmp_path / "note.txt"
        env = {**os.environ, "ARX_PASSWORD": PASSWORD}
        done = subprocess.run([sys.executable, str(VERIFIER), server.url, "--username", "icc_aud", "--cacert",
                               str(site.keys_dir / "tls-cert.pem"), "--dump-leaves", str(leaves),
                               "--dump-note", str(note), "--json"], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        assert report["ok"] and report["entries"] >= report["tree_size"] > 0 and report["problems"] == []
        wrong = subprocess.run([sys.executable, str(VERIFIER), server.url, "--username", "icc_aud"], env=env,
                               capture_output=True, text=True, timeout=120)
        assert wrong.returncode == 2 and "certificate" in wrong.stderr.lower()

        # The files it wrote are what Go's tlog and note need (the part skipped only without go).
        tlog_check = request.getfixturevalue("tlog_check")
        with server.client() as client:
            vkeys = [k["vkey"] for k in client.get("/api/v1/audit/keys").json()["keys"]]
        go = run_go(tlog_check, vkeys, note.read_text(), leaves.read_text().split(), tmp_path)
        assert go.returncode == 0, go.stderr
        assert json.loads(go.stdout)["tlog_root"] == report["root_hash"]

