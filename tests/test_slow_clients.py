"""Slow clients against a real `arx serve` over TLS (issue 11, item 7, and uvicorn's own 400s).

Raw sockets: partial headers, headers trickled a byte at a time, a body that stalls. With small limits
(ARX_HEADER_TIMEOUT_SECONDS=1.5, ARX_BODY_TIMEOUT_SECONDS=2) each connection must be answered 408 and
closed; before the fix each stayed open for as long as the client liked. The bound the test waits for
is generous (WAIT) so it never depends on the machine's speed: what it checks is that the server,
not the client, ends the connection."""

from __future__ import annotations

import json
import select
import socket
import ssl
import time
from collections.abc import Iterator

import pytest

from tests.support.database import DatabaseFactory
from tests.support.e2e import Server, Site, make_site

pytestmark = pytest.mark.slow
WAIT = 20.0  # seconds the client is willing to hold on; the limits are 1.5 s and 2 s


@pytest.fixture(scope="module")
def site(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Site:
    return make_site(tmp_path_factory.mktemp("slow") / "site", databases.empty(),
                     ARX_HEADER_TIMEOUT_SECONDS="1.5", ARX_BODY_TIMEOUT_SECONDS="2")


@pytest.fixture(scope="module")
def server(site: Site) -> Iterator[Server]:
    running = Server(site).start()
    yield running
    running.stop()


def connect(server: Server) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    return server.site.tls_context().wrap_socket(raw, server_hostname="127.0.0.1")


def until_closed(sock: ssl.SSLSocket, trickle: bytes = b"", every: float = 0.25) -> bytes:
    """Everything the server sends until it closes, sending trickle one byte per `every` seconds
    meanwhile; fails if the connection is still open after WAIT seconds."""
    received, deadline = b"", time.monotonic() + WAIT
    pending = list(trickle)
    while time.monotonic() < deadline:
        readable = sock.pending() or select.select([sock], [], [], every)[0]
        if readable:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                return received
            if not chunk:
                return received
            received += chunk
        elif pending:
            try:
                sock.sendall(bytes([pending.pop(0)]))
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                return received
    raise AssertionError(f"connection still open after {WAIT} s; got {received[:200]!r}")


def problem(raw: bytes, status: int) -> dict[str, object]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith(f"HTTP/1.1 {status} "), lines[0]
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert headers["content-type"] == "application/problem+json", headers
    assert headers["connection"] == "close"
    document = json.loads(body)
    assert document["status"] == status and document["type"].startswith("urn:arx:problem:")
    return document


class TestSlowClients:
    def test_partial_headers_are_closed_with_408(self, server: Server) -> None:
        with connect(server) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: yes")
            assert problem(until_closed(sock), 408)["type"] == "urn:arx:problem:request-timeout"

    def test_a_connection_that_sends_nothing_is_closed(self, server: Server) -> None:
        with connect(server) as sock:
            problem(until_closed(sock), 408)

    def test_trickled_headers_do_not_extend_the_limit(self, server: Server) -> None:
        started = time.monotonic()
        line = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Trickle: " + b"a" * 400
        with connect(server) as sock:
            raw = until_closed(sock, trickle=line, every=0.25)
        problem(raw, 408)
        # Closed while bytes were still coming: the trickle (100 s at this pace) was cut short.
        assert time.monotonic() - started < len(line) * 0.25

    def test_a_stalled_body_is_closed_with_408(self, server: Server) -> None:
        with connect(server) as sock:
            sock.sendall(b"POST /api/v1/auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/x-www-form-urlencoded\r\n"
                         b"Content-Length: 200\r\n\r\nusername=fra_fp&pass")
            assert problem(until_closed(sock), 408)["detail"] == "The request body stalled."

    def test_a_kept_alive_connection_gets_a_fresh_header_limit_per_request(self,
                                                                         server: Server) -> None:
        with connect(server) as sock:
            request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            for _ in range(3):  # spaced out over more than one header limit, each answered
                sock.sendall(request)
                reply = b""
                while b'{"status":"ok"}' not in reply:
                    chunk = sock.recv(65536)
                    assert chunk, "closed while idle within the keep-alive time"
                    reply += chunk
                assert reply.startswith(b"HTTP/1.1 200 ")
                time.sleep(0.8)

    def test_an_oversized_header_block_is_refused_with_431(self, server: Server) -> None:
        with connect(server) as sock:
            try:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 200_000
                             + b"\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass  # refused mid-way: the answer is still waiting to be read
            assert problem(until_closed(sock), 431)["type"] == "urn:arx:problem:headers-too-large"

    def test_uvicorns_own_400_is_a_problem_document(self, server: Server) -> None:
        with connect(server) as sock:
            sock.sendall(b"THIS IS NOT HTTP\r\n\r\n")
            assert problem(until_closed(sock), 400)["type"] == "urn:arx:problem:bad-request"

    def test_a_websocket_handshake_is_answered_by_the_app_not_by_uvicorn(self,
                                                                         server: Server) -> None:
        with connect(server) as sock:
            sock.sendall(b"GET /no-such-socket HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
                         b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            reply = b""
            while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                assert chunk, reply
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 404 "), reply[:100]
        head = reply.split(b"\r\n\r\n", 1)[0].lower()
        assert b"content-type: application/problem+json" in head
        assert b"strict-transport-security" in head

