"""The keyring never loses a key: all-or-nothing writes (on a nearly full filesystem), a backup
generation, one-line refusals of every malformed shape, deep key validation, and refusal of a keyring
that does not match the database — while a running service keeps serving from the keys in memory."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.audit.verify import verify_log
from app.crypto.keyring import (
    BACKUP_FILE,
    KEYRING_FILE,
    FileKeyProvider,
    Keyring,
    KeyringError,
    decode_file,
    encode_file,
)
from app.keys.models import KeyVersionRecord
from tests.support.e2e import ARX, Site, make_site
from tests.support.factories import World, notice_document
from tests.support.faults import fill, small_tmpfs


def tamper(doc: dict[str, Any], path: list[Any], value: object) -> bytes:
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(doc).encode()


def good_document() -> dict[str, Any]:
    return Keyring.generate().to_document()


SHAPES: list[tuple[str, bytes]] = [
    ("empty file", b""),
    ("truncated", json.dumps(good_document()).encode()[:700]),
    ("not json", b"\x00\xff garbage"),
    ("json list", b"[1, 2, 3]"),
    ("json string", b'"keyring"'),
    ("json null", b"null"),
    ("no format", json.dumps({"kinds": {}}).encode()),
    ("no kinds", tamper(good_document(), ["kinds"], KeyError)),
    ("kinds not an object", tamper(good_document(), ["kinds"], [1])),
    ("a kind missing", tamper(good_document(), ["kinds", "audit"], KeyError)),
    ("versions not a list", tamper(good_document(), ["kinds", "data", "versions"], 7)),
    ("version not a number", tamper(good_document(), ["kinds", "data", "versions", 0, "version"], "x")),
    ("material not base64", tamper(good_document(), ["kinds", "index", "versions", 0, "material"], "%%")),
    ("5-byte data key", tamper(good_document(), ["kinds", "data", "versions", 0, "material"],
                               base64.b64encode(b"12345").decode())),
    ("garbage signing key", tamper(good_document(), ["kinds", "signing", "versions", 0, "material"],
                                   base64.b64encode(b"-----BEGIN nothing-----").decode())),
    ("audit key of wrong length", tamper(good_document(), ["kinds", "audit", "versions", 0, "material"],
                                         base64.b64encode(b"x" * 31).decode())),
    ("audit public key not matching", tamper(good_document(), ["kinds", "audit", "versions", 0, "public"],
                                             base64.b64encode(b"y" * 32).decode())),
    ("active version absent", tamper(good_document(), ["kinds", "data", "active"], 9)),
    ("sealed without fields", json.dumps({"format": "arx-keyring-sealed/1"}).encode()),
]


class TestMalformedKeyrings:
    @pytest.mark.parametrize(("shape", "raw"), SHAPES, ids=[s for s, _ in SHAPES])
    def test_every_shape_is_one_keyring_error(self, shape: str, raw: bytes) -> None:
        passphrase = "pass" if shape.startswith("sealed") else None
        with pytest.raises(KeyringError) as refused:
            decode_file(raw, passphrase)
        message = str(refused.value)
        assert message and "\n" not in message and len(message) < 300

    def test_sealed_keyring_round_trips_and_wrong_passphrase_is_one_line(self) -> None:
        ring = Keyring.generate()
        raw = encode_file(ring, "right")
        assert decode_file(raw, "right").to_document() == ring.to_document()
        with pytest.raises(KeyringError, match="wrong passphrase"):
            decode_file(raw, "wrong")

    @pytest.mark.slow
    def test_cli_and_serve_answer_one_line_without_traceback(self, tmp_path: Path,
                                                             database_url: str) -> None:
        site = make_site(tmp_path / "site", database_url)
        keyring = site.keys_dir / KEYRING_FILE
        for shape, raw in (SHAPES[0], SHAPES[7], SHAPES[13], SHAPES[14]):
            keyring.write_bytes(raw)
            for args in (("keys", "status"), ("serve", "--port", "1")):
                done = site.arx(*args, check=False, timeout=60)
                assert done.returncode != 0, (shape, args)
                lines = done.stderr.strip().splitlines()
                assert len(lines) == 1 and lines[0].startswith("arx: error:"), (shape, done.stderr)
                assert "Traceback" not in done.stderr


class TestAtomicWrites:
    def test_failed_write_leaves_old_file_and_no_temporary(self, keys_dir: Path) -> None:
        provider = FileKeyProvider(keys_dir)
        before = (keys_dir / KEYRING_FILE).read_bytes()
        code = ("import resource, signal, sys\n"
                "from app.crypto.keyring import FileKeyProvider, KeyringError\n"
                "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
                f"resource.setrlimit(resource.RLIMIT_FSIZE, ({len(before) // 2}, {len(before) // 2}))\n"
                f"p = FileKeyProvider({str(keys_dir)!r})\n"
                "try:\n    p.update(lambda r: r.rotated('data'))\n"
                "except KeyringError as e:\n    print(e); sys.exit(3)\n")
        done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
        assert done.returncode == 3, done.stderr
        assert "keyring not changed" in done.stdout
        assert (keys_dir / KEYRING_FILE).read_bytes() == before
        assert [p.name for p in keys_dir.iterdir() if p.name.endswith(".tmp")] == []
        assert provider.refresh().active_version("data") == 1

    def test_each_write_keeps_the_previous_generation(self, keys_dir: Path) -> None:
        provider = FileKeyProvider(keys_dir)
        first = (keys_dir / KEYRING_FILE).read_bytes()
        provider.update(lambda r: r.rotated("index"))
        assert (keys_dir / BACKUP_FILE).read_bytes() == first
        assert os.stat(keys_dir / BACKUP_FILE).st_mode & 0o077 == 0
        # A file copied over the keyring in place must not reach the backup (it is a copy, not a link).
        (keys_dir / KEYRING_FILE).write_bytes(b"garbage")
        assert (keys_dir / BACKUP_FILE).read_bytes() == first


def _rotate_until_larger_than(site: Site, size: int) -> None:
    while (site.keys_dir / KEYRING_FILE).stat().st_size <= size:
        site.arx("keys", "rotate", "signing")


@pytest.mark.slow
def test_rotate_on_a_nearly_full_filesystem_changes_nothing_then_backup_restores(
        tmp_path: Path, database_url: str) -> None:
    site = make_site(tmp_path / "site", database_url)
    token_post = _post_notice(site)
    _rotate_until_larger_than(site, 4096)  # the case: one page free, a file of more than a page
    mount = tmp_path / "small"
    with small_tmpfs(mount, "256k"):
        keys = mount / "keys"
        shutil.copytree(site.keys_dir, keys)
        os.chmod(keys, 0o700)
        site.env["ARX_KEYS_DIR"] = str(keys)
        before = (keys / KEYRING_FILE).read_bytes()
        filler = fill(mount, leave=4096)
        done = site.arx("keys", "rotate", "data", check=False)
        assert done.returncode != 0
        assert "keyring not changed" in done.stderr and len(done.stderr.strip().splitlines()) == 1
        assert (keys / KEYRING_FILE).read_bytes() == before
        assert [p.name for p in keys.iterdir() if p.name.endswith(".tmp")] == []
        status = site.arx_json("keys", "status")
        assert status["data"]["active"] == 1
        filler.unlink()
        assert site.arx_json("keys", "rotate", "data")["active"] == 2
        assert (keys / BACKUP_FILE).read_bytes() == before
        # The backup lacks data v2, which the database now records: restoring it is refused.
        refused = site.arx("keys", "restore-backup", check=False)
        assert refused.returncode != 0 and "data v2 missing" in refused.stderr
        # A retirement can be undone: the backup then holds every version the database knows.
        site.arx("keys", "retire", "signing", "1")
        restored = site.arx_json("keys", "restore-backup")
        assert restored["restored"] is True
        ring = FileKeyProvider(keys).refresh()
        assert ring.version("signing", 1).usable and ring.active_version("data") == 2
        assert _read_notice(site, token_post)
        assert site.arx("audit", "verify").returncode == 0


def _post_notice(site: Site) -> str:
    """A notice posted in-process against the site's database and keys; returns its id."""
    from starlette.testclient import TestClient

    from app.config import Settings
    from app.main import create_app
    from app.runtime import Runtime
    from tests.support.factories import PASSWORD

    runtime = Runtime.build(Settings(database_url=site.env["ARX_DATABASE_URL"],
                                     keys_dir=Path(site.env["ARX_KEYS_DIR"])))
    try:
        with TestClient(create_app(runtime=runtime), base_url="https://testserver") as client:
            token = client.post("/api/v1/auth/token", data={"username": "fra_fp", "password": PASSWORD}
                                ).json()["access_token"]
            posted = client.post("/api/v1/notices", json=notice_document(),
                                 headers={"Authorization": f"Bearer {token}"})
            assert posted.status_code == 201, posted.text
            return str(posted.json()["id"])
    finally:
        runtime.close()


def _read_notice(site: Site, notice_id: str) -> bool:
    from starlette.testclient import TestClient

    from app.config import Settings
    from app.main import create_app
    from app.runtime import Runtime
    from tests.support.factories import PASSWORD

    runtime = Runtime.build(Settings(database_url=site.env["ARX_DATABASE_URL"],
                                     keys_dir=Path(site.env["ARX_KEYS_DIR"])))
    try:
        with TestClient(create_app(runtime=runtime), base_url="https://testserver") as client:
            token = client.post("/api/v1/auth/token", data={"username": "icc_inv", "password": PASSWORD}
                                ).json()["access_token"]
            got = client.get(f"/api/v1/notices/{notice_id}", headers={"Authorization": f"Bearer {token}"})
            return got.status_code == 200
    finally:
        runtime.close()


class TestMismatchedKeyring:
    def test_foreign_keyring_is_refused_and_memory_keys_keep_serving(self, world: World,
                                                                     tmp_path: Path) -> None:
        runtime = world.runtime
        keys = runtime.settings.keys_dir
        runtime.adopt_keys()
        first = world.post_notice("fra_fp")
        own = (keys / KEYRING_FILE).read_bytes()
        foreign = tmp_path / "foreign"
        FileKeyProvider(foreign).create_if_absent()
        shutil.copyfile(foreign / KEYRING_FILE, keys / KEYRING_FILE)
        ring = runtime.keys.refresh()
        assert runtime.keys.health == "mismatched"
        assert ring.version("data", 1).fingerprint != FileKeyProvider(foreign).refresh().version(
            "data", 1).fingerprint  # the keys in memory are still this deployment's
        during = world.post_notice("fra_fp", title="during the swap")
        ready = world.client.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["keyring"] == "mismatched"
        assert world.client.get("/health").status_code == 200
        (keys / KEYRING_FILE).write_bytes(own)
        runtime.keys.refresh()
        assert runtime.keys.health == "ok"
        assert world.client.get("/health/ready").json()["status"] == "ok"
        for notice in (first, during):
            got = world.client.get(f"/api/v1/notices/{notice['id']}", headers=world.headers("icc_inv"))
            assert got.status_code == 200, got.text
        from app.audit.sequencer import seal_pending
        seal_pending(runtime)
        assert verify_log(runtime).first_bad is None
        with runtime.db.unit_of_work() as session:
            kinds = set(session.scalars(select(KeyVersionRecord.kind)))
        assert kinds == {"data", "index", "signing", "audit"}

    @pytest.mark.parametrize("fault", ["deleted", "truncated", "unreadable"])
    def test_keyring_lost_while_serving_keeps_serving_from_memory(self, world: World,
                                                                  fault: str) -> None:
        runtime = world.runtime
        keyring = runtime.settings.keys_dir / KEYRING_FILE
        own = keyring.read_bytes()
        acknowledged = [world.post_notice("fra_fp")["id"]]
        if fault == "deleted":
            keyring.unlink()
        elif fault == "truncated":
            keyring.write_bytes(own[:100])
        else:
            # Root reads through chmod 000; a directory in its place cannot be read by anyone.
            keyring.unlink()
            keyring.mkdir()
        runtime.keys.refresh()
        assert runtime.keys.health == ("missing" if fault == "deleted" else "unreadable")
        client = world.client
        token = client.post("/api/v1/auth/token", data={"username": "nld_fp",
                                                        "password": "correct horse battery staple"})
        assert token.status_code == 200
        assert client.get("/api/v1/me", headers=world.headers("fra_fp")).status_code == 200
        acknowledged.append(world.post_notice("fra_fp", title="while lost")["id"])
        ready = client.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["readiness"] == "degraded"
        assert ready.json()["keyring"] == runtime.keys.health
        assert client.get("/health").status_code == 200
        if keyring.is_dir():
            keyring.rmdir()
        keyring.write_bytes(own)
        os.chmod(keyring, 0o600)
        runtime.keys.refresh()
        assert client.get("/health/ready").status_code == 200
        for notice_id in acknowledged:
            assert client.get(f"/api/v1/notices/{notice_id}",
                              headers=world.headers("icc_inv")).status_code == 200
        from app.audit.sequencer import seal_pending
        seal_pending(runtime)
        assert verify_log(runtime).first_bad is None


@pytest.mark.slow
def test_cli_refuses_a_foreign_keyring(tmp_path: Path, database_url: str) -> None:
    site = make_site(tmp_path / "site", database_url)
    foreign = tmp_path / "foreign"
    FileKeyProvider(foreign).create_if_absent()
    shutil.copyfile(foreign / KEYRING_FILE, site.keys_dir / KEYRING_FILE)
    for args in (("keys", "status"), ("keys", "rotate", "data"), ("audit", "verify")):
        done = site.arx(*args, check=False)
        assert done.returncode != 0 and "does not match the database" in done.stderr, args
        assert len(done.stderr.strip().splitlines()) == 1
    served = subprocess.run([ARX, "serve", "--port", "1"], env=site.env, capture_output=True, text=True,
                            timeout=60, check=False, cwd=site.root)
    assert served.returncode != 0 and "does not match the database" in served.stderr

