"""`arx keys …` as real subprocesses: JSON status, refusals, kill -9 in the middle of rewrap and
reindex, and rotation under load against a real `arx serve` (which must follow without a restart)."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.notices.models import (
    Notice,
    NoticeParagraph,
    NoticeRecipient,
    NoticeRevision,
    NoticeRevisionKey,
    NoticeRevisionRecipient,
)
from app.notices.schemas import NoticeDocument
from app.notices.service import revision_aad
from app.runtime import Runtime
from app.search.indexer import index_subjects
from app.search.models import IndexBuild, SubjectTerm
from app.users.models import User
from tests.support.factories import World, bearer, notice_document

pytestmark = pytest.mark.slow  # subprocess CLI, kill -9 half-way, live rotation under load

FIRST = ["Amadou", "Beatriz", "Chen", "Dmitri", "Elif", "Farid", "Greta", "Hiroshi", "Ines", "Jonas",
         "Kwame", "Leila", "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rania", "Sven", "Tariq"]
LAST = ["Abernathy", "Bouchard", "Castellano", "Delacroix", "Eriksen", "Fontaine", "Gallagher",
        "Haverford", "Iglesias", "Jablonski", "Kowalczyk", "Lindqvist", "Marchetti", "Nakamura",
        "Oyelaran", "Petrakis", "Quisumbing", "Rasmussen", "Santangelo", "Thorvaldsen", "Umberger",
        "Valdivia", "Wojciechowski", "Xanthopoulos", "Yamamoto", "Zielinski", "Achterberg", "Brannigan",
        "Carvalho", "Dumitrescu", "Esposito", "Fitzgerald", "Grimaldi", "Hakansson", "Ivanova",
        "Jovanovic", "Kristiansen", "Lombardi", "Montgomery", "Nieminen"]


def subject_name(i: int) -> str:
    return f"{FIRST[i % len(FIRST)]} {LAST[i // len(FIRST) % len(LAST)]}"


def seed_notices(runtime: Runtime, count: int, *, author: str = "fra_fp") -> list[str]:
    """Notices shared with ICC, one distinct subject each, sealed and indexed like the service does."""
    with runtime.db.unit_of_work() as session:
        user = session.scalar(select(User).where(User.username == author))
        assert user is not None
        user_id, party = user.id, user.party_code
    ids: list[str] = []
    for start in range(0, count, 250):
        with runtime.db.unit_of_work() as session:
            batch = []
            for i in range(start, min(count, start + 250)):
                doc = NoticeDocument.model_validate(notice_document(
                    title=f"Seeded {i}", subjects=[{"name": subject_name(i), "birth_date": "1961-03-05",
                                                    "nationality": "COD"}]))
                notice = Notice(id=str(uuid.uuid4()), kind=doc.kind, author_party=party,
                                author_user_id=user_id, tlp=doc.tlp, asset_status="frozen",
                                current_revision=1, recipients=[NoticeRecipient(party_code="ICC")],
                                paragraphs=[NoticeParagraph(paragraph="13")])
                revision = NoticeRevision(notice_id=notice.id, revision=1, author_user_id=user_id,
                                          tlp=doc.tlp, recipients=[NoticeRevisionRecipient(
                                              party_code="ICC")])
                revision.store(runtime.envelope.seal(doc.model_dump_json().encode(),
                                                     revision_aad(notice, revision)))
                session.add_all([notice, revision])
                batch.append((notice.id, doc))
            session.flush()
            for notice_id, doc in batch:
                index_subjects(session, runtime, notice_id, 1, doc.subjects)
                ids.append(notice_id)
    return ids


def arx(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.fixture
def cli_env(database_url: str, keys_dir: Path, runtime: Runtime) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARX_")}
    # Rotation under load is tested, not the limiters: on a quiet machine the load's logins alone passed
    # the per-address token limit (60 a minute) and came back 429.
    env.update(ARX_DATABASE_URL=database_url, ARX_KEYS_DIR=str(keys_dir), ARX_KEYRING_POLL_SECONDS="0.2",
               ARX_WRITE_RATE_PER_MINUTE="1000000", ARX_SEARCH_RATE_PER_MINUTE="1000000",
               ARX_TOKEN_IP_RATE_PER_MINUTE="1000000", ARX_IP_RATE_PER_MINUTE="1000000")
    return env


def run_ok(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = arx(env, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def readable_through_api(world: World) -> set[str]:
    """Every notice the ICC investigator can list (each one is decrypted to be listed)."""
    seen: set[str] = set()
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = world.client.get("/api/v1/notices", params=params, headers=world.headers("icc_inv"))
        assert page.status_code == 200, page.text
        seen |= {item["id"] for item in page.json()["items"]}
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return seen


def kill_at_random_points(env: dict[str, str], args: list[str], progress: Callable[[], int], total: int,
                          rng: random.Random, kills: int = 3) -> int:
    """Start the command, SIGKILL it at random moments (mid-batch, mid-wait), `kills` times."""
    killed = 0
    for attempt in range(kills):
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", *args], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if attempt == 0:
            # Start-up or the propagation wait (imports alone take most of a second, the in-flight
            # allowance one more): still running. Up to 1.5 s, a fast machine had sometimes finished.
            time.sleep(rng.uniform(0.1, 0.9))
        else:
            target = progress() + rng.randint(1, max(1, (total - progress()) // 3))
            deadline = time.monotonic() + 120
            while proc.poll() is None and progress() < target and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.05))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
    return killed


class TestStatusAndRefusals:
    def test_status_json_has_the_contract_shape(self, cli_env: dict[str, str]) -> None:
        doc = run_ok(cli_env, "keys", "status")
        assert set(doc) == {"data", "index", "signing", "audit"}
        for entry in doc.values():
            assert isinstance(entry, dict) and entry["active"] == 1
            assert [v["version"] for v in entry["versions"]] == [1]
            assert all(isinstance(v["dependents"], int) for v in entry["versions"])
        text = arx(cli_env, "keys", "status")
        assert text.returncode == 0 and "signing" in text.stdout

    def test_rotate_refuse_rewrap_retire(self, cli_env: dict[str, str], world: World) -> None:
        notice = world.post_notice("fra_fp")
        assert run_ok(cli_env, "keys", "rotate", "data") == {"kind": "data", "active": 2}
        refused = arx(cli_env, "keys", "retire", "data", "1")
        assert refused.returncode != 0
        assert refused.stderr.count("\n") == 1 and "rewrap" in refused.stderr
        assert refused.stderr.startswith("arx: error:")
        status = run_ok(cli_env, "keys", "status")["data"]
        assert status["active"] == 2
        assert {v["version"]: v["dependents"] for v in status["versions"]}[1] >= 1

        rewrapped = run_ok(cli_env, "keys", "rewrap", "--batch-size", "1")
        assert rewrapped["rewrapped"] == 1 and rewrapped["unreadable"] == 0
        assert run_ok(cli_env, "keys", "retire", "data", "1")["retired"] == 1
        got = world.client.get(f"/api/v1/notices/{notice['id']}", headers=world.headers("icc_inv"))
        assert got.status_code == 200
        again = arx(cli_env, "keys", "retire", "data", "1")
        assert again.returncode != 0 and "already retired" in again.stderr

    def test_bad_kind_and_version_are_one_line_errors(self, cli_env: dict[str, str]) -> None:
        for args in (["rotate", "master"], ["retire", "data", "x"], ["retire", "data", "1"]):
            done = arx(cli_env, "keys", *args)
            assert done.returncode != 0 and done.stderr.startswith("arx: error:"), done.stderr
            assert done.stderr.count("\n") == 1


class TestKilledHalfWay:
    def test_rewrap_survives_kill_9_and_rerun_loses_nothing(self, cli_env: dict[str, str],
                                                           world: World) -> None:
        runtime = world.runtime
        ids = set(seed_notices(runtime, 1200))
        run_ok(cli_env, "keys", "rotate", "data")

        def rewrapped() -> int:
            with runtime.db.unit_of_work() as session:
                return int(session.scalar(select(func.count()).select_from(NoticeRevisionKey)
                                          .where(NoticeRevisionKey.key_version == 2)) or 0)

        rng = random.Random()
        killed = kill_at_random_points(cli_env, ["keys", "rewrap", "--batch-size", "10"], rewrapped,
                                       len(ids), rng)
        assert killed >= 1
        final = run_ok(cli_env, "keys", "rewrap", "--batch-size", "500")
        assert final["unreadable"] == 0
        assert rewrapped() == len(ids)
        assert run_ok(cli_env, "keys", "retire", "data", "1")["retired"] == 1
        assert ids <= readable_through_api(world)
        verified = arx(cli_env, "audit", "verify")
        assert verified.returncode == 0, verified.stderr

    def test_reindex_survives_kill_9_and_search_is_complete(self, cli_env: dict[str, str],
                                                           world: World) -> None:
        runtime = world.runtime
        ids = seed_notices(runtime, 800)
        run_ok(cli_env, "keys", "rotate", "index")

        def indexed() -> int:
            with runtime.db.unit_of_work() as session:
                return int(session.scalar(select(func.count(func.distinct(SubjectTerm.notice_id)))
                                          .where(SubjectTerm.key_version == 2)) or 0)

        # A notice posted while the rebuild is pending is indexed under both versions by the service.
        posted = world.post_notice("fra_fp", subjects=[{"name": "Wilhelmina Ostrowska",
                                                        "birth_date": "1970-01-01"}])
        killed = kill_at_random_points(cli_env, ["keys", "reindex", "--batch-size", "10"], indexed,
                                       len(ids), random.Random())
        assert killed >= 1
        with runtime.db.unit_of_work() as session:
            build = session.get(IndexBuild, 2)
            assert build is not None
        # Until the build completes, searches use version 1 and still find everything.
        assert self._finds(world, subject_name(7), ids[7])
        final = run_ok(cli_env, "keys", "reindex", "--batch-size", "300")
        assert final["complete"] is True
        with runtime.db.unit_of_work() as session:
            build = session.get(IndexBuild, 2)
            assert build is not None and build.completed_at is not None
            missing = session.scalar(select(func.count()).select_from(Notice).where(
                ~select(SubjectTerm.id).where(SubjectTerm.notice_id == Notice.id,
                                              SubjectTerm.key_version == 2).exists()))
            assert missing == 0
        assert indexed() == len(ids) + 1  # every seeded notice and the posted one
        retired = run_ok(cli_env, "keys", "retire", "index", "1")
        assert retired["purged_terms"] > 0
        for i in random.Random().sample(range(len(ids)), 8):
            assert self._finds(world, subject_name(i), ids[i]), subject_name(i)
        assert self._finds(world, "Wilhelmina Ostrowska", str(posted["id"]))
        verified = arx(cli_env, "audit", "verify")
        assert verified.returncode == 0, verified.stderr

    @staticmethod
    def _finds(world: World, name: str, notice_id: str) -> bool:
        found = world.client.post("/api/v1/search/subjects", json={"name": name, "limit": 10},
                                  headers=world.headers("icc_inv"))
        assert found.status_code == 200, found.text
        return notice_id in {m["notice_id"] for m in found.json()["matches"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(cli_env: dict[str, str], world: World, tmp_path: Path) -> Iterator[str]:
    """A real `arx serve` over the test's database and keys (plain HTTP on loopback)."""
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--insecure-http", "--port",
                             str(port)], env=cli_env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "arx serve did not start"
        time.sleep(0.1)
    yield base
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


class TestLiveRotation:
    def test_rotation_under_load_fails_no_request_and_reaches_the_service(
            self, cli_env: dict[str, str], world: World, served: str) -> None:
        runtime = world.runtime
        existing = world.post_notice("fra_fp", subjects=[{"name": "Wilhelmina Ostrowska",
                                                          "birth_date": "1970-01-01"}])
        old_token = world.tokens["icc_inv"]
        failures: list[str] = []
        requests = [0]
        stop = threading.Event()

        def hammer(worker: int) -> None:
            with httpx.Client(base_url=served, timeout=30) as http:
                token = world.tokens["fra_fp"]
                n = 0
                while not stop.is_set():
                    n += 1
                    calls: list[tuple[str, str, str | None, Any, int]]
                    calls = [("GET", f"/api/v1/notices/{existing['id']}", old_token, None, 200),
                             ("GET", "/.well-known/jwks.json", None, None, 200)]
                    if worker % 2 == 0:
                        calls.append(("POST", "/api/v1/notices", token, notice_document(), 201))
                    else:
                        calls.append(("POST", "/api/v1/search/subjects", old_token,
                                      {"name": "Jean-Pierre Exemple"}, 200))
                    if n % 15 == worker:
                        form = {"username": "nld_fp", "password": "correct horse battery staple"}
                        got = http.post("/api/v1/auth/token", data=form)
                        requests[0] += 1
                        if got.status_code != 200:
                            failures.append(f"login {got.status_code}")
                        else:
                            calls.append(("GET", "/api/v1/me", got.json()["access_token"], None, 200))
                    for method, path, tok, body, expected in calls:
                        got = http.request(method, path, json=body, headers=bearer(tok) if tok else {})
                        requests[0] += 1
                        if got.status_code != expected:
                            failures.append(f"{method} {path} {got.status_code}")

        threads = [threading.Thread(target=hammer, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        try:
            time.sleep(1)
            for kind in ("data", "signing", "index", "audit"):
                assert run_ok(cli_env, "keys", "rotate", kind)["active"] == 2
            run_ok(cli_env, "keys", "rewrap")
            run_ok(cli_env, "keys", "reindex")
            run_ok(cli_env, "keys", "retire", "index", "1")
            time.sleep(1)
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert failures == [] and requests[0] > 20, failures[:10]
        # Through the served instance: on PostgreSQL the per-user search budget is shared by every
        # instance on the database, and the hammering above spent the in-process app's default one.
        with httpx.Client(base_url=served, timeout=30) as http:
            found = http.post("/api/v1/search/subjects", json={"name": "Wilhelmina Ostrowska"},
                              headers=world.headers("icc_inv"))
        assert found.status_code == 200, found.text
        assert existing["id"] in {m["notice_id"] for m in found.json()["matches"]}

        # The service follows without restart: new writes under data v2, new tokens under signing-v2.
        with httpx.Client(base_url=served, timeout=30) as http:
            created = http.post("/api/v1/notices", json=notice_document(),
                                headers=bearer(world.tokens["fra_fp"]))
            assert created.status_code == 201
            with runtime.db.unit_of_work() as session:
                version = session.scalar(select(NoticeRevisionKey.key_version)
                                         .where(NoticeRevisionKey.notice_id == created.json()["id"]))
            assert version == 2
            kids = {k["kid"] for k in http.get("/.well-known/jwks.json").json()["keys"]}
            assert kids == {"signing-v1", "signing-v2"}

            # Compromise drill: retire signing v1 → its tokens refused by the server within 5 s.
            run_ok(cli_env, "keys", "retire", "signing", "1")
            deadline = time.monotonic() + 5
            while http.get("/api/v1/me", headers=bearer(old_token)).status_code != 401:
                assert time.monotonic() < deadline, "retired signing key still accepted after 5 s"
                time.sleep(0.05)
            kids = {k["kid"] for k in http.get("/.well-known/jwks.json").json()["keys"]}
            assert kids == {"signing-v2"}
            fresh = http.post("/api/v1/auth/token", data={"username": "icc_inv",
                                                          "password": "correct horse battery staple"})
            assert fresh.status_code == 200
            assert http.get("/api/v1/me", headers=bearer(fresh.json()["access_token"])).status_code == 200
