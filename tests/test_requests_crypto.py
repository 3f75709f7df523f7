"""Requests at rest: a stolen database (SQLite file, pg_dump) reveals no title, body, subject or message;
moved or re-routed ciphertext does not open; the operator CLI lists routing data only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.engine import make_url

from app.crypto.envelope import DecryptionError
from app.requests import service
from app.requests.models import CooperationRequest, RequestMessage
from tests.support.factories import World

API = "/api/v1/requests"


def canaries() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10].upper()
    return {"title": f"Reqtitle canary {tag}", "body": f"Reqbody canary {tag} laundering",
            "name": f"Quentin Reqcanary{tag}", "passport": f"RQPASS{tag}",
            "message": f"Reqmessage canary {tag}", "note": f"Reqnote canary {tag}",
            "legal": f"Reqlegal canary {tag}", "asset": f"Reqasset canary {tag}"}


def needles(c: dict[str, str]) -> list[bytes]:
    words = [*c.values(), c["name"].split()[-1]]
    out: list[bytes] = []
    for w in words:
        out += [w.encode(), w.lower().encode(), w.upper().encode(), w.encode("utf-16-le")]
    return out


def raw_database_bytes(database_url: str, tmp_path: Path) -> bytes:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
                        if p.exists())
    dump = tmp_path / "dump.sql"
    env = {**os.environ, "PGPASSWORD": url.password or ""}
    subprocess.run(["pg_dump", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U",
                    url.username or "postgres", "-f", str(dump), url.database or ""], check=True,
                   env=env, timeout=120)
    return dump.read_bytes()


def plant(world: World, c: dict[str, str]) -> str:
    response = world.client.post(API, headers=world.headers("icc_inv"), json={
        "addressee": "FRA", "type": "consultation", "measures": ["freezing"],
        "legal_basis": [c["legal"]], "priority": "urgent", "title": c["title"], "body": c["body"],
        "subjects": [{"name": c["name"], "identifiers": [{"scheme": "passport", "value": c["passport"]}]}],
        "assets": [{"type": "real_estate", "description": c["asset"], "status": "identified"}],
        "tlp": "RED", "paris_paragraphs": ["13"]})
    assert response.status_code == 201, response.text
    rid = str(response.json()["id"])
    assert world.client.post(f"{API}/{rid}/messages", json={"body": c["message"]},
                             headers=world.headers("fra_fp")).status_code == 201
    moved = world.client.post(f"{API}/{rid}/transitions", json={"status": "acknowledged",
                                                              "note": c["note"]},
                              headers=world.headers("fra_fp"))
    assert moved.status_code == 200, moved.text
    return rid


def test_a_stolen_database_reveals_no_request_content(world: World, database_url: str,
                                                      tmp_path: Path) -> None:
    c = canaries()
    rid = plant(world, c)
    got = world.client.get(f"{API}/{rid}", headers=world.headers("fra_fp")).json()
    assert got["title"] == c["title"] and got["legal_basis"] == [c["legal"]]  # really stored
    thread = world.client.get(f"{API}/{rid}/messages", headers=world.headers("icc_inv")).json()
    assert [m["body"] for m in thread["items"]] == [c["message"], c["note"]]
    world.runtime.db.dispose()
    raw = raw_database_bytes(database_url, tmp_path)
    assert rid.encode() in raw  # the scan does see the database
    assert [n for n in needles(c) if n in raw] == []


def _ids(world: World) -> tuple[str, str]:
    c1, c2 = canaries(), canaries()
    return plant(world, c1), plant(world, c2)


def test_swapped_content_or_rerouted_request_does_not_open(world: World) -> None:
    a, b = _ids(world)
    with world.runtime.db.unit_of_work() as session:
        ra, rb = session.get(CooperationRequest, a), session.get(CooperationRequest, b)
        assert ra is not None and rb is not None
        ra.ciphertext, ra.wrapped_key, ra.nonce = rb.ciphertext, rb.wrapped_key, rb.nonce
    with world.runtime.db.unit_of_work() as session:
        row = session.get(CooperationRequest, a)
        assert row is not None
        with pytest.raises(DecryptionError):
            world.runtime.envelope.open(row.sealed(), service.content_aad(row.id, row.requester,
                                                                          row.addressee))
    with world.runtime.db.unit_of_work() as session:  # re-route b to another addressee
        session.execute(update(CooperationRequest).where(CooperationRequest.id == b)
                        .values(addressee="NLD"))
    response = world.client.get(f"{API}/{b}", headers=world.headers("nld_fp"))
    assert response.status_code == 500 and "Integrity" in response.json()["title"]
    with world.runtime.db.unit_of_work() as session:  # a message moved to the other thread
        session.execute(update(RequestMessage).where(RequestMessage.request_id == a)
                        .values(request_id=b))
    assert world.client.get(f"{API}/{b}/messages",
                            headers=world.headers("icc_inv")).status_code == 500


def test_operator_cli_lists_routing_only(world: World, tmp_path: Path) -> None:
    c = canaries()
    rid = plant(world, c)
    env = {**os.environ, "ARX_DATABASE_URL": world.runtime.settings.database_url,
           "ARX_KEYS_DIR": str(world.runtime.settings.keys_dir),
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}

    def arx(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, capture_output=True,
                              text=True, timeout=120, check=False)

    listed = arx("request", "list", "--party", "FRA", "--json")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)["items"]
    assert [(i["id"], i["requester"], i["addressee"], i["status"]) for i in items] == [
        (rid, "ICC", "FRA", "acknowledged")]
    assert all(needle.decode(errors="ignore") not in listed.stdout for needle in needles(c))
    assert json.loads(arx("request", "list", "--party", "DEU", "--json").stdout)["items"] == []
    assert json.loads(arx("request", "list", "--overdue", "--json").stdout)["items"] == []
    text_out = arx("request", "list")
    assert text_out.returncode == 0 and rid in text_out.stdout and c["title"] not in text_out.stdout
    vocab = tmp_path / "obstacles.json"
    vocab.write_text(json.dumps({"obstacles": [{"code": "strike", "label": "Industrial action"}]}))
    loaded = arx("obstacles", "load", str(vocab), "--json")
    assert loaded.returncode == 0 and json.loads(loaded.stdout) == {"loaded": 1}
    codes = {o["code"] for o in world.client.get("/api/v1/obstacles",
                                                 headers=world.headers("fra_fp")).json()["items"]}
    assert "strike" in codes and "bank_secrecy" in codes
    vocab.write_text(json.dumps({"obstacles": [{"code": "Bad Code", "label": "x"}]}))
    bad = arx("obstacles", "load", str(vocab))
    assert bad.returncode != 0 and bad.stderr.count("\n") == 1


def test_key_rotation_carries_requests(world: World) -> None:
    """Data keys of requests and messages are rewrapped (retire refused before), and request subjects
    are reindexed under a new index key: after retiring both old versions everything still opens."""
    from app.errors import Conflict
    from app.keys.reindex import reindex_subjects
    from app.keys.retire import retire_key
    from app.keys.rewrap import rewrap_data_keys
    from app.keys.rotate import rotate_key
    from tests.support.factories import ADMIN

    c = canaries()
    rid = plant(world, c)
    runtime = world.runtime
    with runtime.db.unit_of_work() as session:
        rotate_key(session, runtime, ADMIN, "data")
        rotate_key(session, runtime, ADMIN, "index")
    runtime.keys.refresh()
    with runtime.db.unit_of_work() as session:
        from app.keys.dependents import data_dependents

        deps = data_dependents(session)
        assert deps["requests"] == {1: 1} and deps["request_messages"] == {1: 2}
    with pytest.raises(Conflict):
        retire_key(runtime, ADMIN, "data", "1", wait=False)
    report = rewrap_data_keys(runtime, ADMIN, wait=False)
    assert report.unreadable == 0 and report.rewrapped >= 3  # content, message, note (and users)
    reindexed = reindex_subjects(runtime, ADMIN, wait=False)
    assert reindexed.requests == 1
    retire_key(runtime, ADMIN, "data", "1", wait=False)
    retire_key(runtime, ADMIN, "index", "1", wait=False)
    runtime.keys.refresh()
    got = world.client.get(f"{API}/{rid}", headers=world.headers("fra_fp"))
    assert got.status_code == 200 and got.json()["title"] == c["title"]
    thread = world.client.get(f"{API}/{rid}/messages", headers=world.headers("fra_fp")).json()
    assert [m["body"] for m in thread["items"]] == [c["message"], c["note"]]
    found = world.client.post("/api/v1/search/subjects", json={"name": c["name"]},
                              headers=world.headers("icc_inv")).json()
    assert [m["request_id"] for m in found["request_matches"]] == [rid]
