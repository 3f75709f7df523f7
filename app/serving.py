"""uvicorn set-up for `arx serve`: hardened TLS and JSON logs in the serving process and every worker."""

from __future__ import annotations

import asyncio
import gc
import json
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

from app.config import get_settings
from app.crypto.tls import harden
from app.errors import PROBLEM_JSON, problem_body
from app.logging import configure_logging
from app.middleware import SECURITY_HEADERS


def _problem_bytes(status: int, reason: str, title: str, detail: str, slug: str,
                   default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A whole HTTP/1.1 response carrying a problem document, closing the connection."""
    body = json.dumps(problem_body(status, title, detail, slug)).encode()
    headers = [*default_headers, (b"content-type", PROBLEM_JSON.encode()),
               (b"content-length", str(len(body)).encode()), (b"connection", b"close"),
               *SECURITY_HEADERS]
    head = f"HTTP/1.1 {status} {reason}\r\n".encode() + b"".join(
        name + b": " + value + b"\r\n" for name, value in headers)
    return head + b"\r\n" + body


MAX_HEADER_BYTES = 64 * 1024


class ArxHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the slow-client timeouts uvicorn lacks, and problem documents
    instead of its text/plain 400s.

    - Headers: a request's headers must be complete within ``header_timeout`` seconds of the
      connection opening (first request) or of its first byte (later requests on a kept-alive
      connection; the idle time before it is uvicorn's keep-alive timeout). Trickling them one byte a
      second does not extend it.
    - Body: once the headers are in, each wait for more body bytes may last ``body_timeout`` seconds.
      Either expiry answers 408 (a problem document) if no response has started, and closes.
    - Size: a header block over MAX_HEADER_BYTES answers 431 and closes (httptools has no limit: a
      client could otherwise fill memory for as long as the header deadline lasts)."""

    _deadline: asyncio.TimerHandle | None = None
    _header_bytes: int | None = 0  # bytes of the request head received so far; None once complete
    _head_size = 0  # of the current request's URL and headers as parsed
    _head_too_large = False

    def _timeout(self, what: str) -> float:
        config = self.config
        assert isinstance(config, ArxConfig), "ArxHttpProtocol is served by an ArxConfig"
        return config.header_timeout if what == "headers" else config.body_timeout

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, what)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _refuse(self, status: int, reason: str, title: str, detail: str, slug: str) -> None:
        self._disarm()
        self.transport.write(_problem_bytes(status, reason, title, detail, slug,
                                            self.server_state.default_headers))
        self.transport.close()

    def _refuse_head(self) -> None:
        self._refuse(431, "Request Header Fields Too Large", "Request headers too large",
                     f"Request headers are limited to {MAX_HEADER_BYTES} bytes.", "headers-too-large")

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # A head still incomplete after this chunk: httptools buffers it whole, so count it here.
        if self._header_bytes is not None and not self.transport.is_closing():
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._refuse_head()

    def _grow_head(self, size: int) -> None:
        # A head that completed within one chunk: raising aborts the parse before the request
        # starts; httptools turns it into the parser error that reaches send_400_response.
        self._head_size += size
        if self._head_size > MAX_HEADER_BYTES:
            self._head_too_large = True
            raise ValueError("request head too large")

    def on_url(self, url: bytes) -> None:
        self._grow_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._grow_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _expired(self, what: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            detail = ("The request headers did not arrive in time." if what == "headers"
                      else "The request body stalled.")
            self.transport.write(_problem_bytes(408, "Request Timeout", "Request timeout", detail,
                                                "request-timeout",
                                                self.server_state.default_headers))
        self.logger.info("slow client closed")  # a fixed message: nothing about the client
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self._timeout("headers"), "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = self._head_size = 0
        if self._deadline is None:  # a later request on a kept-alive connection: its first byte
            self._arm(self._timeout("headers"), "headers")

    def on_headers_complete(self) -> None:
        # Until the message completes, the body may not stall (a bodiless request completes at once).
        self._arm(self._timeout("body"), "body")
        self._header_bytes = None
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._arm(self._timeout("body"), "body")
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        # uvicorn's own refusal of a request it cannot parse: same answer, as a problem document.
        if self._head_too_large:
            self._refuse_head()
            return
        self._refuse(400, "Bad Request", "Bad request", "Malformed HTTP request.", "bad-request")


class ArxConfig(uvicorn.Config):
    """A uvicorn Config that hardens its TLS context and installs JSON logging wherever it is loaded,
    and serves HTTP/1.1 with ArxHttpProtocol (slow-client timeouts from ARX_HEADER_TIMEOUT_SECONDS and
    ARX_BODY_TIMEOUT_SECONDS unless given).

    Worker processes receive the config pickled and load it themselves, so the hardening must live in
    load(), not be applied once by the parent."""

    def __init__(self, app: Any, *, client_ca: Path | None = None, header_timeout: float | None = None,
                 body_timeout: float | None = None, **kwargs: Any) -> None:
        self.client_ca = client_ca
        settings = get_settings()
        self.header_timeout = header_timeout or settings.header_timeout_seconds
        self.body_timeout = body_timeout or settings.body_timeout_seconds
        # By name, not the class: worker processes receive the config pickled and import it themselves.
        kwargs.setdefault("http", "app.serving:ArxHttpProtocol")
        # No WebSocket route exists: an upgrade request is served as plain HTTP by the app (problem
        # documents, security headers) instead of uvicorn refusing the handshake with a text/plain 403.
        kwargs.setdefault("ws", "none")
        # A worker answers the supervisor's health pings only once it has imported the application: on a
        # busy machine that takes longer than uvicorn's 5 s, and the supervisor would kill and restart
        # every worker for ever (seen under bench/load.py with a load average above 10).
        kwargs.setdefault("timeout_worker_healthcheck", 60)
        super().__init__(app, **kwargs)

    def configure_logging(self) -> None:
        super().configure_logging()
        configure_logging()

    def load(self) -> None:
        super().load()
        if self.ssl is not None:
            harden(self.ssl, self.client_ca)
        settle_heap()


# CPython collects generation 0 every 700 net allocations of containers; a request allocates thousands
# and every tenth generation-1 pass walks every long-lived object (ORM metadata, name caches). Under the
# default, one search in twenty at a million subjects stalled 50-100 ms in a full collection; with these
# thresholds a full collection is rare and short (bench/search.py applies the same).
GC_THRESHOLDS = (10_000, 20, 10)


def settle_heap() -> None:
    """Once the application is loaded: move what start-up built out of the collector's reach (it lives
    as long as the process) and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run(config: ArxConfig) -> None:
    """Serve in this process, or supervise `config.workers` processes sharing one listening socket."""
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.Server(config).run()
