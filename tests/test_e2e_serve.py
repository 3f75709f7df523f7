"""End to end through the real executable: `arx init` then `arx serve` over HTTPS on a free port.

TLS policy (1.2+ with AEAD suites only, optional client certificates), a chunked body over the limit,
the server's own JSON log, and crash safety: `kill -9` during sustained posting (and beside a key
rewrap) loses no acknowledged notice and leaves an audit log that verifies.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.db import Database
from app.keys.dependents import data_dependents
from tests.support.database import DatabaseFactory
from tests.support.e2e import ARX, Server, Site, make_site
from tests.support.factories import notice_document

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Site:
    return make_site(tmp_path_factory.mktemp("e2e") / "site", databases.empty(),
                     ARX_MAX_BODY_BYTES=str(256 * 1024))


@pytest.fixture(scope="module")
def server(site: Site) -> Iterator[Server]:
    running = Server(site).start()
    yield running
    running.stop()


def handshake(server: Server, context: ssl.SSLContext) -> ssl.SSLSocket:
    import socket

    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


class TestHttps:
    def test_health_and_headers(self, server: Server) -> None:
        with server.client() as client:
            response = client.get("/health")
        assert response.status_code == 200 and response.json() == {"status": "ok"}
        assert response.headers["strict-transport-security"].startswith("max-age=")
        assert response.headers["cache-control"] == "no-store"
        assert "server" not in response.headers

    @pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
    def test_tls12_and_tls13_accepted_with_aead_suites(self, server: Server, version: ssl.TLSVersion) -> None:
        context = server.site.tls_context(minimum_version=version, maximum_version=version)
        with handshake(server, context) as tls:
            names = {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}
            assert tls.version() == names[version]
            negotiated = tls.cipher()
            assert negotiated is not None
            cipher = negotiated[0]
            assert "GCM" in cipher or "CHACHA20" in cipher, cipher

    @pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
    @pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
    def test_old_protocols_refused(self, server: Server, version: ssl.TLSVersion) -> None:
        context = server.site.tls_context()
        # Let the client really offer the old protocol, so the refusal is the server's.
        context.set_ciphers("ALL:@SECLEVEL=0")
        context.minimum_version = version
        context.maximum_version = version
        with pytest.raises(ssl.SSLError) as refused:
            handshake(server, context)
        assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value).upper()

    @pytest.mark.parametrize("cipher", ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-SHA"])
    def test_non_aead_tls12_suites_refused(self, server: Server, cipher: str) -> None:
        context = server.site.tls_context(minimum_version=ssl.TLSVersion.TLSv1_2,
                                          maximum_version=ssl.TLSVersion.TLSv1_2)
        context.set_ciphers(f"{cipher}:@SECLEVEL=0")
        with pytest.raises(ssl.SSLError):
            handshake(server, context)

    def test_plain_http_on_the_tls_port_gets_no_api(self, server: Server) -> None:
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{server.port}/health", timeout=5)

    def test_chunked_body_over_the_limit_is_413_before_it_is_all_sent(self, server: Server) -> None:
        token = server.token("fra_fp")
        with handshake(server, server.site.tls_context()) as tls:
            tls.sendall(b"POST /api/v1/notices HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        b"Authorization: Bearer " + token.encode() + b"\r\n"
                        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"a" * 16384
            sent = 0
            try:
                # 4 MiB announced in no header; the limit is 256 KiB.
                for _ in range(256):
                    tls.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass
            tls.settimeout(10)
            head = tls.recv(65536).decode("latin-1")
        assert head.startswith("HTTP/1.1 413"), head[:200]
        assert "application/problem+json" in head
        assert sent < 256 * 16384 or "413" in head

    def test_server_log_is_json_lines_without_request_content(self, server: Server) -> None:
        token = server.token("fra_fp")
        canary = f"servelogcanary{uuid.uuid4().hex[:8]}"
        with server.client(headers={"Authorization": f"Bearer {token}"}) as client:
            created = client.post("/api/v1/notices", json=notice_document(
                narrative=canary, subjects=[{"name": f"{canary} Name"}]))
            assert created.status_code == 201
            client.post("/api/v1/search/subjects", json={"name": f"{canary} Name"})
            client.get("/api/v1/notices", params={"x": canary})
        time.sleep(0.5)
        log = server.log()
        assert canary not in log and token not in log
        lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        access = [line for line in lines if line.get("logger") == "arx.access"]
        assert any(line["route"] == "/api/v1/notices" and line["status"] == 201 and line["party"] == "FRA"
                   for line in access)


class TestWorkers:
    def test_every_worker_keeps_the_tls_policy_and_logs_json(self, site: Site) -> None:
        server = Server(site, "--workers", "2").start()
        try:
            assert server.process is not None
            pid = server.process.pid
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            assert len(children) >= 2, "two worker processes"
            cbc = server.site.tls_context(maximum_version=ssl.TLSVersion.TLSv1_2)
            cbc.set_ciphers("ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0")
            token = server.token("fra_fp")
            # Several connections, so both workers answer some of them.
            for _ in range(6):
                with pytest.raises(ssl.SSLError):
                    handshake(server, cbc)
                tls12 = server.site.tls_context(maximum_version=ssl.TLSVersion.TLSv1_2)
                with handshake(server, tls12) as tls:
                    negotiated = tls.cipher()
                    assert negotiated is not None
                    assert "GCM" in negotiated[0] or "CHACHA20" in negotiated[0]
                with server.client(headers={"Authorization": f"Bearer {token}"}) as client:
                    created = client.post("/api/v1/notices", json=notice_document())
                    assert created.status_code == 201
                    assert client.get(f"/api/v1/notices/{created.json()['id']}").status_code == 200
            time.sleep(0.5)
            access = [json.loads(line) for line in server.log().splitlines()
                      if line.startswith("{") and '"arx.access"' in line]
            assert sum(1 for line in access if line["status"] == 201) == 6
        finally:
            server.stop()


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    """A CA and one client certificate (clientAuth) it issued, made with the openssl tool."""
    directory.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", f"/CN={name} CA", "-keyout", "ca.key", "-out", "ca.pem",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
            cwd=directory)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", f"/CN={name} client", "-keyout", "client.key", "-out", "client.csr", cwd=directory)
    (directory / "ext.cnf").write_text("extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "ext.cnf", "-out", "client.pem", cwd=directory)
    return directory / "ca.pem", directory / "client"


class TestMutualTls:
    def test_client_certificate_required_with_client_ca(self, site: Site, tmp_path: Path) -> None:
        ca, client_stem = make_ca(tmp_path / "party-ca", "FRA")
        _, stranger_stem = make_ca(tmp_path / "other-ca", "Stranger")
        with_cert = site.tls_context()
        with_cert.load_cert_chain(f"{client_stem}.pem", f"{client_stem}.key")
        server = Server(site, "--client-ca", str(ca)).start(context=with_cert)
        try:
            with server.client(context=with_cert) as client:
                assert client.get("/health").status_code == 200
                token = client.post("/api/v1/auth/token", data={"username": "fra_fp",
                                                                "password": "correct horse battery staple"})
                assert token.status_code == 200
            for context in (site.tls_context(), self._with(site, stranger_stem)):
                with pytest.raises((httpx.HTTPError, ssl.SSLError)), server.client(context=context) as client:
                    client.get("/health")
        finally:
            server.stop()

    @staticmethod
    def _with(site: Site, stem: Path) -> ssl.SSLContext:
        context = site.tls_context()
        context.load_cert_chain(f"{stem}.pem", f"{stem}.key")
        return context

    def test_client_ca_needs_tls(self, site: Site, tmp_path: Path) -> None:
        done = site.arx("serve", "--insecure-http", "--client-ca", str(tmp_path / "x.pem"), check=False,
                        timeout=60)
        assert done.returncode != 0 and "--client-ca" in done.stderr


# -- crash safety ----------------------------------------------------------------------------------
class Poster:
    """Threads posting notices as several users until stopped; remembers every acknowledged one."""

    def __init__(self, server: Server, users: list[str]) -> None:
        self.server = server
        self.tokens = {user: server.token(user) for user in users}
        self.acknowledged: dict[str, tuple[str, str]] = {}  # notice id -> (user, title)
        self.errors = 0
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(user,), daemon=True)
                        for user in users for _ in range(2)]

    def _run(self, user: str) -> None:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        with self.server.client(headers=headers) as client:
            while not self.stopping.is_set():
                title = f"crash-{uuid.uuid4().hex}"
                try:
                    response = client.post("/api/v1/notices", json=notice_document(
                        title=title, recipients=["ICC"], narrative=f"sustained posting {title}"))
                except httpx.HTTPError:
                    with self.lock:
                        self.errors += 1
                    time.sleep(0.05)
                    continue
                if response.status_code == 201:
                    with self.lock:
                        self.acknowledged[response.json()["id"]] = (user, title)

    def __enter__(self) -> Poster:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.acknowledged) >= count, f"only {len(self.acknowledged)} notices acknowledged"


def assert_all_readable(server: Server, acknowledged: dict[str, tuple[str, str]]) -> None:
    tokens = {user: server.token(user) for user in {user for user, _ in acknowledged.values()}}
    reader = server.token("icc_inv")
    with server.client() as client:
        for notice_id, (user, title) in acknowledged.items():
            for token in (tokens[user], reader):
                got = client.get(f"/api/v1/notices/{notice_id}", headers={"Authorization": f"Bearer {token}"})
                assert got.status_code == 200, (notice_id, got.text)
                assert got.json()["title"] == title


def assert_audit_verifies(site: Site) -> None:
    # The restarted service seals what the killed one left pending; then the whole log must verify.
    deadline = time.monotonic() + 30
    while True:
        done = site.arx("audit", "verify", check=False)
        if done.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert done.returncode == 0, done.stdout[-1000:] + done.stderr[-1000:]


class TestCrash:
    def test_kill9_during_sustained_posting_loses_no_acknowledged_notice(self, site: Site) -> None:
        server = Server(site).start()
        try:
            with Poster(server, ["fra_fp", "nld_fp", "deu_fp"]) as poster:
                poster.wait_for(40)
                server.kill9()
                time.sleep(0.5)
            assert poster.errors > 0, "the posters saw the server die mid-stream"
            server.start()
            assert_all_readable(server, poster.acknowledged)
        finally:
            server.stop()
        assert_audit_verifies(site)

    def test_kill9_beside_a_rewrap_then_resume(self, site: Site) -> None:
        server = Server(site).start()
        try:
            with Poster(server, ["fra_fp", "nld_fp"]) as poster:
                poster.wait_for(30)
                old = site.arx_json("keys", "status")["data"]["active"]
                site.arx("keys", "rotate", "data")
                rewrap = subprocess.Popen([ARX, "keys", "rewrap"], env=site.env, cwd=site.root,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                poster.wait_for(len(poster.acknowledged) + 20)
                server.kill9()
                if rewrap.poll() is None:
                    rewrap.kill()
                rewrap.wait(timeout=30)
            server.start()
            # Resumable: a second run finishes whatever the first (or the killed server) left.
            site.arx("keys", "rewrap")
            assert site.arx_json("keys", "status")["data"]["active"] != old
            # No notice revision is wrapped by the old KEK any more (encrypted audit details stay with
            # it by design: they are not re-wrapped).
            database = Database(site.env["ARX_DATABASE_URL"])
            try:
                with database.unit_of_work() as session:
                    assert data_dependents(session)["revisions"].get(old, 0) == 0
            finally:
                database.dispose()
            assert_all_readable(server, poster.acknowledged)
        finally:
            server.stop()
        assert_audit_verifies(site)
