"""Backup and restore, done for real as the README's procedure says: an online database dump (pg_dump, or
SQLite's .backup) plus a copy of the keyring; restored into a new database and keys dir, every notice
decrypts and the audit log verifies against the checkpoint a party saved before the backup."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from app.config import Settings
from app.crypto.envelope import DecryptionError
from app.crypto.keyring import FileKeyProvider, KeyringError, KeyringMismatch
from app.main import create_app
from app.notices.models import Notice, NoticeRevision
from app.notices.service import open_content
from app.runtime import Runtime
from tests.support.database import DatabaseFactory
from tests.support.e2e import Site
from tests.support.factories import World, notice_document

pytestmark = pytest.mark.slow


def libpq(url: str) -> str:
    """The SQLAlchemy URL as pg_dump/pg_restore take it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{command[0]}: {done.stderr[-2000:]}"


def backup_database(url: str, target: Path) -> None:
    if url.startswith("postgresql"):
        run("pg_dump", "--format=custom", "--no-owner", f"--file={target}", libpq(url))
    else:
        run("sqlite3", make_url(url).database or "", f".backup '{target}'")


def restore_database(dump: Path, databases: DatabaseFactory) -> str:
    if databases.postgres:
        url = databases.empty()
        run("pg_restore", "--no-owner", "--exit-on-error", f"--dbname={libpq(url)}", str(dump))
        return url
    restored = dump.with_name("restored.db")
    shutil.copyfile(dump, restored)
    return f"sqlite:///{restored}"


def site_for(root: Path, settings: Settings) -> Site:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARX_")}
    env.update(ARX_DATABASE_URL=settings.database_url, ARX_KEYS_DIR=str(settings.keys_dir))
    return Site(root=root, env=env)


def test_dump_and_keyring_copy_restore_everything(world: World, databases: DatabaseFactory,
                                                  tmp_path: Path) -> None:
    # Activity worth keeping: notices of several States, a revision, reads, searches.
    originals = [world.post_notice("fra_fp", recipients=["ICC", "NLD"]),
                 world.post_notice("nld_fp", recipients=["*"], tlp="GREEN",
                                   subjects=[{"name": "Maria Backupova", "birth_date": "1971-03-04"}]),
                 world.post_notice("deu_fp", recipients=["ICC"], narrative="restored narrative")]
    revised = world.client.put(f"/api/v1/notices/{originals[0]['id']}",
                               json=notice_document(recipients=["ICC", "NLD"], title="revised before backup"),
                               headers=world.headers("fra_fp"))
    assert revised.status_code == 200
    originals[0] = revised.json()
    for notice in originals:
        assert world.client.get(f"/api/v1/notices/{notice['id']}",
                                headers=world.headers("icc_inv")).status_code == 200
    assert world.client.post("/api/v1/search/subjects", json={"name": "Maria Backupova"},
                             headers=world.headers("icc_inv")).json()["matches"]

    # 1. A party keeps the latest signed checkpoint (as any party may, at any time).
    source = site_for(tmp_path, world.runtime.settings)
    source.arx("audit", "seal")
    checkpoint = tmp_path / "checkpoint.txt"
    checkpoint.write_text(source.arx("audit", "checkpoint").stdout)
    assert checkpoint.read_text().strip()

    # 2. Backup while the service runs: database dump + keyring copy (stored apart from the dump).
    dump = tmp_path / ("arx.dump" if databases.postgres else "arx-backup.db")
    backup_database(world.runtime.settings.database_url, dump)
    keys_backup = tmp_path / "keys-backup"
    shutil.copytree(world.runtime.settings.keys_dir, keys_backup)
    # Work after the backup is not in it; the restored log must still extend the saved checkpoint.
    world.post_notice("fra_fp")

    # 3. Restore into a new database and a new keys dir.
    restored_url = restore_database(dump, databases)
    restored_keys = tmp_path / "restored-keys"
    shutil.copytree(keys_backup, restored_keys)
    os.chmod(restored_keys, 0o700)
    restored = Settings(database_url=restored_url, keys_dir=restored_keys)
    runtime = Runtime.build(restored)
    try:
        with TestClient(create_app(runtime=runtime), base_url="https://testserver") as client:
            token = client.post("/api/v1/auth/token", data={"username": "icc_inv",
                                                            "password": "correct horse battery staple"})
            assert token.status_code == 200
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            for notice in originals:
                got = client.get(f"/api/v1/notices/{notice['id']}", headers=headers)
                assert got.status_code == 200, got.text
                assert got.json() == notice
            history = client.get(f"/api/v1/notices/{originals[0]['id']}/revisions", headers=headers)
            assert [r["revision"] for r in history.json()["items"]] == [1, 2]
            found = client.post("/api/v1/search/subjects", json={"name": "Maria Backupova"}, headers=headers)
            assert found.json()["matches"][0]["notice_id"] == originals[1]["id"]
    finally:
        runtime.close()

    # 4. The audit log verifies, and extends the checkpoint saved before the backup.
    restored_site = site_for(tmp_path, restored)
    deadline = time.monotonic() + 20
    while (done := restored_site.arx("audit", "verify", "--since-checkpoint", str(checkpoint),
                                     check=False)).returncode != 0 and time.monotonic() < deadline:
        time.sleep(1)
    assert done.returncode == 0, done.stderr


def test_the_dump_without_its_keyring_reveals_nothing(world: World, databases: DatabaseFactory,
                                                      tmp_path: Path) -> None:
    created = world.post_notice("fra_fp", narrative="only with the keyring")
    dump = tmp_path / ("arx.dump" if databases.postgres else "arx-backup.db")
    backup_database(world.runtime.settings.database_url, dump)
    restored_url = restore_database(dump, databases)
    other_keys = tmp_path / "other-keys"
    FileKeyProvider(other_keys).create_if_absent()
    runtime = Runtime.build(Settings(database_url=restored_url, keys_dir=other_keys))
    try:
        # Another keyring does not even start a service over the restored database (issue 12: the key
        # versions the database records must all be in the keyring), so nothing is ever answered.
        with pytest.raises(KeyringMismatch), TestClient(create_app(runtime=runtime),
                                                        base_url="https://testserver"):
            pass
        # And the sealed content cannot be opened with it either.
        with runtime.db.unit_of_work() as session:
            notice = session.get(Notice, created["id"])
            assert notice is not None
            revision = session.scalars(select(NoticeRevision)
                                       .where(NoticeRevision.notice_id == notice.id)).one()
            with pytest.raises((DecryptionError, KeyringError)):
                open_content(runtime, notice, revision)
    finally:
        runtime.close()
