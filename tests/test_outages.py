"""Outages injected for real: PostgreSQL stopped and frozen under load (a cluster the test starts), SQLite
locked and its disk full, a keyring swapped or lost under a running `arx serve`, SIGTERM under load, and
error responses that keep the connection usable. Each ends checking that every acknowledged write reads
back and that `arx audit verify` passes. Counts by status per phase go to tests/support/faults.REPORT_DIR."""

from __future__ import annotations

import functools
import http.client
import json
import logging
import os
import shutil
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient

from app import db as app_db
from app.config import Settings
from app.crypto.keyring import KEYRING_FILE, FileKeyProvider
from app.db import Database
from app.logging import JsonFormatter
from app.main import create_app
from app.runtime import Runtime
from tests.support.e2e import Server, Site, free_port, make_site
from tests.support.factories import PASSWORD, World, assert_problem, bearer, notice_document
from tests.support.faults import Load, PgCluster, fill, report, small_tmpfs, wait_until


def read_back(server: Server, ids: list[str]) -> int:
    """How many acknowledged notices read back (as the Court, a recipient of every one)."""
    token = server.token("icc_inv")
    readable = 0
    with server.client() as client:
        for notice_id in ids:
            if client.get(f"/api/v1/notices/{notice_id}", headers=bearer(token)).status_code == 200:
                readable += 1
    return readable


def finish(site: Site, server: Server, load: Load, name: str, **extra: object) -> None:
    """Stop the load, check every 201 reads back, stop the server, verify the audit log, report."""
    load.stop()
    readable = read_back(server, load.acknowledged)
    server.stop()
    verify = site.arx("audit", "verify", check=False)
    report(name, load, readable=readable, audit_verify=verify.returncode, **extra)
    assert readable == len(load.acknowledged) > 0
    assert verify.returncode == 0, verify.stderr
    assert load.problems_ok, "an error answer was not a problem document"


def reached(load: Load, phase: str, status: str, count: int = 10) -> Callable[[], bool]:
    return lambda: load.counts.get(phase, Counter()).get(status, 0) >= count


def no_500s(load: Load) -> None:
    for phase, counts in load.table().items():
        assert "500" not in counts, (phase, counts)
        assert not any(k.endswith("Error") for k in counts), (phase, counts)  # no connection cut


# -- PostgreSQL --------------------------------------------------------------------------------------
# These two bring their own database: run them once, in the suite's SQLite pass.
own_database = pytest.mark.skipif(bool(os.environ.get("ARX_TEST_DATABASE_URL")),
                                  reason="brings its own database; runs in the SQLite pass")


@pytest.mark.slow
@own_database
def test_postgres_stopped_then_frozen_under_load(tmp_path: Path) -> None:
    cluster = PgCluster(free_port()).init()
    server: Server | None = None
    try:
        site = make_site(tmp_path / "site", cluster.url, ARX_REQUEST_DEADLINE_SECONDS="3",
                         ARX_DATABASE_CONNECT_TIMEOUT_SECONDS="2")
        server = Server(site).start()
        load = Load(server.client, bearer(server.token("fra_fp"))).start(workers=3, limit=100_000)
        wait_until(reached(load, "before", "201"), 60, "posts before", load)

        load.phase = "stopped"
        cluster.stop_immediate()
        wait_until(reached(load, "stopped", "503"), 60, "503 while stopped", load)
        with server.client() as client:
            assert client.get("/health").status_code == 200
            ready = client.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["database"] == "unreachable"
        cluster.start()
        load.phase = "after stop"
        wait_until(reached(load, "after stop", "201"), 60, "recovery", load)

        load.phase = "frozen"
        cluster.signal_all(signal.SIGSTOP)
        wait_until(reached(load, "frozen", "503", 6), 60, "503 while frozen", load)
        with server.client() as client:
            frozen_ready = client.get("/health/ready")
        cluster.signal_all(signal.SIGCONT)
        load.phase = "after freeze"
        wait_until(reached(load, "after freeze", "201"), 60, "recovery", load)
        assert frozen_ready.status_code == 503 and frozen_ready.json()["database"] == "unreachable"
        assert load.retry_after_seen
        no_500s(load)
        finish(site, server, load, "postgres-stopped-and-frozen")
    finally:
        if server is not None:
            server.stop()
        cluster.destroy()


class TestIdleConnections:
    """Pooled PostgreSQL connections are pinged before reuse only after sitting idle
    (app/db.py, PING_AFTER_IDLE_SECONDS): a ping on every checkout was one round trip in six on a read."""

    @staticmethod
    def _backend(db: Database) -> int:
        with db.unit_of_work() as session:
            return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())

    @pytest.fixture
    def killed(self, database_url: str) -> Iterator[tuple[Database, int]]:
        """A pool whose one connection was just used and then terminated by the server, and its pid."""
        if site_db(database_url) != "postgresql":
            pytest.skip("a PostgreSQL connection pool")
        db = Database(database_url)
        killer = create_engine(database_url)
        try:
            pid = self._backend(db)
            with killer.begin() as connection:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            yield db, pid
        finally:
            killer.dispose()
            db.dispose()

    def test_a_connection_killed_while_idle_is_replaced_before_use(
            self, killed: tuple[Database, int], monkeypatch: pytest.MonkeyPatch) -> None:
        db, pid = killed
        monkeypatch.setattr(app_db, "PING_AFTER_IDLE_SECONDS", 0.0)  # it has been idle long enough
        assert self._backend(db) != pid  # answered, on a new connection

    def test_a_connection_killed_just_after_use_fails_one_unit_of_work_then_the_pool_recovers(
            self, killed: tuple[Database, int]) -> None:
        """The optimistic side of the trade: no ping within the idle window, so the request that meets
        a connection killed meanwhile fails (503 through the API), and its disconnect error makes the
        pool replace every connection it holds."""
        db, pid = killed
        with pytest.raises(OperationalError):
            self._backend(db)
        assert self._backend(db) != pid


# -- SQLite ------------------------------------------------------------------------------------------
def test_sqlite_locked_beyond_the_busy_timeout_is_503_and_recovers(world: World,
                                                                   database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock")
    runtime = Runtime.build(world.runtime.settings.model_copy(
        update={"database_busy_timeout_seconds": 0.3}))
    try:
        with TestClient(create_app(runtime=runtime), base_url="https://testserver") as client:
            token = client.post("/api/v1/auth/token", data={"username": "fra_fp", "password": PASSWORD}
                                ).json()["access_token"]
            holder = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
            try:
                locked = client.post("/api/v1/notices", json=notice_document(), headers=bearer(token))
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            body = assert_problem(locked, 503)
            assert locked.headers["retry-after"] and "busy" in str(body["detail"])
            after = client.post("/api/v1/notices", json=notice_document(), headers=bearer(token))
            assert after.status_code == 201
            assert client.get(f"/api/v1/notices/{after.json()['id']}", headers=bearer(token)
                              ).status_code == 200
    finally:
        runtime.close()
    from app.audit.sequencer import seal_pending
    from app.audit.verify import verify_log
    seal_pending(world.runtime)
    assert verify_log(world.runtime).first_bad is None


@pytest.mark.slow
@own_database
def test_sqlite_disk_full_is_507_never_corrupts_and_recovers(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "small", "48m") as root:
        site = make_site(root / "site", f"sqlite:///{root}/site/arx.db",
                         ARX_READY_MIN_FREE_BYTES="65536")
        server = Server(site).start()
        try:
            load = Load(server.client, bearer(server.token("fra_fp"))).start(workers=2, limit=100_000)
            wait_until(reached(load, "before", "201"), 60, "posts before", load)
            load.phase = "full"
            filler = fill(root)
            wait_until(reached(load, "full", "507"), 60, "507 while full", load)
            with server.client() as client:
                ready = client.get("/health/ready")
            assert ready.status_code == 503 and ready.json()["disk"] == "full"
            filler.unlink()
            load.phase = "after"
            wait_until(reached(load, "after", "201"), 60, "recovery", load)
            with server.client() as client:
                assert client.get("/health/ready").status_code == 200
            assert load.retry_after_seen
            no_500s(load)
            finish(site, server, load, "sqlite-disk-full")
        finally:
            server.stop()
        db = sqlite3.connect(f"{root}/site/arx.db")
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()


# -- keyring swapped or lost under a running service ---------------------------------------------------
@pytest.mark.slow
def test_foreign_then_lost_keyring_under_a_running_service(tmp_path: Path, database_url: str) -> None:
    site = make_site(tmp_path / "site", database_url, ARX_KEYRING_POLL_SECONDS="0.2")
    keyring = site.keys_dir / KEYRING_FILE
    own = keyring.read_bytes()
    foreign = tmp_path / "foreign"
    FileKeyProvider(foreign).create_if_absent()
    server = Server(site).start()
    try:
        load = Load(server.client, bearer(server.token("fra_fp"))).start(workers=2, limit=100_000)
        wait_until(reached(load, "before", "201"), 60, "posts before", load)

        def ready() -> dict[str, str]:
            with server.client() as client:
                return dict(client.get("/health/ready").json())

        def keyring_is(state: str) -> bool:
            return ready().get("keyring") == state

        for phase, fault in (("foreign keyring", "foreign"), ("keyring deleted", "deleted"),
                             ("keyring truncated", "truncated")):
            load.phase = phase
            if fault == "foreign":
                shutil.copyfile(foreign / KEYRING_FILE, keyring)
            elif fault == "deleted":
                keyring.unlink()
            else:
                keyring.write_bytes(own[:200])
            expected = {"foreign": "mismatched", "deleted": "missing", "truncated": "unreadable"}[fault]
            wait_until(functools.partial(keyring_is, expected), 30, expected)
            wait_until(reached(load, phase, "201"), 60, phase)
            # A new login signs with the key in memory, and its token works.
            token = server.token("nld_fp")
            with server.client() as client:
                assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
            keyring.write_bytes(own)
            os.chmod(keyring, 0o600)
            wait_until(lambda: ready().get("status") == "ok", 30, "keyring back", load)
        load.phase = "after"
        wait_until(reached(load, "after", "201"), 60, "posts after", load)
        assert "KEYRING FILE REFUSED" in server.log()
        no_500s(load)
        finish(site, server, load, f"keyring-swapped-and-lost-{site_db(database_url)}")
    finally:
        server.stop()


def site_db(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


# -- SIGTERM -------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_sigterm_drains_in_flight_requests_and_seals(tmp_path: Path, database_url: str) -> None:
    site = make_site(tmp_path / "site", database_url, ARX_SHUTDOWN_GRACE_SECONDS="5")
    server = Server(site).start()
    token = server.token("fra_fp")
    results: list[int | str] = []

    def post(i: int) -> None:
        try:
            with server.client() as client:
                results.append(client.post("/api/v1/notices", headers=bearer(token),
                                           json=notice_document(title=f"drain {i}")).status_code)
        except httpx.HTTPError as exc:
            results.append(type(exc).__name__)

    def login() -> None:
        try:
            with server.client() as client:
                results.append(client.post("/api/v1/auth/token", data={
                    "username": "nld_fp", "password": PASSWORD}).status_code)
        except httpx.HTTPError as exc:
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(4)]
    threads += [threading.Thread(target=login) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.15)  # the requests are in flight (argon2 alone takes longer than this)
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(60)
    code = server.process.wait(60)
    # uvicorn re-raises the captured SIGTERM once it has shut down gracefully.
    assert code in (0, -signal.SIGTERM)
    assert "Finished server process" in server.log()
    assert sorted(str(r) for r in results) == ["200", "200", "201", "201", "201", "201"]
    assert '"final audit seal' not in server.log()
    # Every entry was sealed on the way out: nothing is pending for the next start.
    from sqlalchemy import func, select

    from app.audit.models import AuditEntry, AuditLeaf
    db = Database(database_url)
    try:
        with db.unit_of_work() as session:
            entries = session.scalar(select(func.count()).select_from(AuditEntry))
            leaves = session.scalar(select(func.count()).select_from(AuditLeaf))
    finally:
        db.dispose()
    assert entries == leaves
    assert site.arx("audit", "verify").returncode == 0


@pytest.mark.slow
def test_sigterm_exits_even_when_the_database_hangs(tmp_path: Path, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("holds SQLite's write lock")
    site = make_site(tmp_path / "site", database_url, ARX_SHUTDOWN_GRACE_SECONDS="2",
                     ARX_DATABASE_BUSY_TIMEOUT_SECONDS="30", ARX_REQUEST_DEADLINE_SECONDS="60")
    server = Server(site).start()
    token = server.token("fra_fp")
    holder = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    outcome: list[object] = []

    def post() -> None:
        try:
            with server.client() as client:
                outcome.append(client.post("/api/v1/notices", headers=bearer(token),
                                           json=notice_document()).status_code)
        except httpx.HTTPError as exc:
            outcome.append(type(exc).__name__)

    thread = threading.Thread(target=post)
    thread.start()
    time.sleep(0.5)
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    try:
        code = server.process.wait(45)  # bounded: well below the 30 s busy timeout + 60 s deadline
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        thread.join(60)
    assert code is not None
    assert site.arx("audit", "verify").returncode == 0


# -- errors keep the connection usable ------------------------------------------------------------------
def test_a_request_answered_503_at_its_deadline_stops_waiting_for_its_lock_at_once(
        world: World, settings: Settings) -> None:
    """A post waiting for a lock past ARX_REQUEST_DEADLINE_SECONDS is answered 503, then its statement is
    cancelled: it leaves the lock queue and rolls back at once, not at statement_timeout (15 s)."""
    engine = world.runtime.db.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL: SQLite's lock waits end at its busy timeout")
    waiting = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                   "AND wait_event_type = 'Lock' AND wait_event = 'advisory'")
    hurried = Runtime.build(settings.model_copy(update={"request_deadline_seconds": 1.0}))
    try:
        with TestClient(create_app(runtime=hurried), base_url="https://testserver") as client, \
                engine.connect() as holder:
            holder.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": app_db.MATCHING_LOCK_KEY})
            response = client.post("/api/v1/notices", headers=world.headers("fra_fp"),
                                   json=notice_document(title="Posted past its deadline"))
            assert_problem(response, 503)
            gone = time.monotonic() + 5  # far below the 15 s statement_timeout
            while holder.scalar(waiting) and time.monotonic() < gone:
                time.sleep(0.05)
            assert holder.scalar(waiting) == 0
            holder.rollback()
    finally:
        hurried.close()
    with world.runtime.db.reading() as session:
        assert session.scalar(text("SELECT count(*) FROM notice")) == 0  # rolled back


def test_an_unexpected_error_is_a_problem_document_not_a_re_raise(runtime: Runtime) -> None:
    app = create_app(runtime=runtime)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    # raise_server_exceptions: Starlette's error middleware re-raising would surface here.
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=True) as client:
        response = client.get("/boom")
    assert_problem(response, 500)
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.slow
def test_a_500_leaves_the_keep_alive_connection_usable(tmp_path: Path, database_url: str) -> None:
    site = make_site(tmp_path / "site", database_url)
    server = Server(site).start()
    try:
        token = server.token("fra_fp")
        connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=site.tls_context(),
                                                 timeout=30)
        headers = {"Authorization": f"Bearer {token}"}
        connection.request("GET", "/api/v1/paris-paragraphs", headers=headers)
        ok = connection.getresponse()
        ok.read()
        assert ok.status == 200
        _rename_table(database_url, "paris_paragraph", "paris_paragraph_moved")
        try:
            connection.request("GET", "/api/v1/paris-paragraphs", headers=headers)
            failed = connection.getresponse()
            body = json.loads(failed.read())
            assert failed.status == 500 and body["status"] == 500
            closes = (failed.getheader("connection") or "").lower() == "close"
            if not closes:
                # Same connection, next request: it must be answered, not dropped.
                connection.request("GET", "/api/v1/me", headers=headers)
                me = connection.getresponse()
                me.read()
                assert me.status == 200
        finally:
            _rename_table(database_url, "paris_paragraph_moved", "paris_paragraph")
        if closes:
            connection.close()
        connection.request("POST", "/api/v1/notices", headers={
            **headers, "Content-Type": "application/json"}, body=json.dumps(notice_document()))
        after = connection.getresponse()
        posted = json.loads(after.read())
        assert after.status == 201
        connection.close()
        assert read_back(server, [posted["id"]]) == 1
    finally:
        server.stop()
    assert site.arx("audit", "verify").returncode == 0


def _rename_table(url: str, old: str, new: str) -> None:
    from sqlalchemy import create_engine, text
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))
    finally:
        engine.dispose()


# -- logs ------------------------------------------------------------------------------------------
def test_uvicorn_lines_are_interpolated_but_client_input_is_not() -> None:
    formatter = JsonFormatter()

    def line(msg: str, *args: object) -> str:
        record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, msg, args, None)
        return json.loads(formatter.format(record))["msg"]

    assert line("Started server process [%d]", 4242) == "Started server process [4242]"
    assert line("Uvicorn running on %s://%s:%d (Press CTRL+C to quit)", "https", "127.0.0.1", 8443) \
        == "Uvicorn running on https://127.0.0.1:8443 (Press CTRL+C to quit)"
    assert line("Invalid HTTP request: %s", "GET /?name=Jean-Pierre") == "Invalid HTTP request: %s"


@pytest.mark.slow
def test_an_operator_command_waits_for_the_write_lock_longer_than_a_request(tmp_path: Path,
                                                                            database_url: str) -> None:
    """A request gives up on SQLite's write lock after ARX_DATABASE_BUSY_TIMEOUT_SECONDS (503); an
    operator's command waits a minute at least: a key rotation beside a service under sustained posting
    lost every race for the lock for five seconds and failed (CI, both suites side by side)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("holds SQLite's write lock")
    site = make_site(tmp_path / "site", database_url, ARX_DATABASE_BUSY_TIMEOUT_SECONDS="1")
    holder = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None,
                             check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(4.0, holder.execute, ["ROLLBACK"])
    release.start()
    started = time.monotonic()
    try:
        site.arx("party", "add", "BEL", "--name", "Belgium", "--kind", "state")
    finally:
        release.join()
        holder.close()
    assert time.monotonic() - started >= 3.5, "it ran while the lock was held?"
    database = Database(database_url)
    try:
        with database.unit_of_work() as session:
            name = session.execute(text("SELECT name FROM party WHERE code = 'BEL'")).scalar_one()
        assert name == "Belgium"
    finally:
        database.dispose()
