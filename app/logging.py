"""Structured JSON logs: one line per request, and a formatter that never writes request content.

What a line may hold is an allow-list: request id, principal (username, party, role), method, route
template, status, latency, and a few operational counters. Query strings, raw bodies, exception
messages (a database or validation error can quote a name or an identifier) and tokens never reach it.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOGGER = "arx.access"
# Extra fields a log call may attach; anything else passed through `extra=` is dropped.
ALLOWED_EXTRA = (
    "request_id", "username", "party", "role", "method", "route", "status", "latency_ms",
    "failures", "count", "version", "kind", "batch", "retry_after", "limit", "scope",
    "state", "reason",
)


# uvicorn's own lines whose string arguments are the server's configuration, never client input.
_TRUSTED_TEMPLATES = ("Uvicorn running on ", "Started server process", "Finished server process",
                      "Started parent process", "Stopping parent process", "Waiting for child process",
                      "Child process", "Maximum request limit")


def _message(record: logging.LogRecord) -> str:
    """The message with its %-arguments when they cannot carry client input, else the format string.

    Third-party loggers (uvicorn) may put client input such as a request line into the arguments:
    numbers are always interpolated, strings only into the allow-listed templates above.
    """
    template = str(record.msg)
    args = record.args
    if not args or not isinstance(args, tuple):
        return template
    trusted = template.startswith(_TRUSTED_TEMPLATES)
    if not trusted and not all(isinstance(a, int | float) for a in args):
        return template
    try:
        return template % args
    except (TypeError, ValueError):
        return template


class JsonFormatter(logging.Formatter):
    """One JSON object per line; messages are fixed strings, extras are allow-listed."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _message(record),
        }
        for key in ALLOWED_EXTRA:
            if key in record.__dict__:
                line[key] = record.__dict__[key]
        if record.exc_info and record.exc_info[0] is not None:
            # The type and where it was raised, never str(exc): exception messages can quote input.
            line["exc_type"] = record.exc_info[0].__name__
            frames = traceback.extract_tb(record.exc_info[2])
            line["exc_at"] = [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}:{f.name}" for f in frames[-8:]]
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", stream: Any = None) -> logging.Handler:
    """Send ARX's and uvicorn's loggers to one JSON handler (stderr by default); returns it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("arx", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = [handler] if name in ("arx", "uvicorn") else []
        logger.setLevel(level)
        logger.propagate = name not in ("arx", "uvicorn")
    # uvicorn.access would log the raw path with its query string: our access line replaces it.
    logging.getLogger("uvicorn.access").disabled = True
    return handler


def route_template(scope: Scope) -> str:
    """/api/v1/notices/{notice_id} for a matched route; never the raw path or its query string."""
    if scope.get("route") is None:
        # An unmatched path is whatever the client typed: it could be a name.
        return "unmatched"
    by_value = {str(v): k for k, v in (scope.get("path_params") or {}).items()}
    return "/".join(f"{{{by_value[s]}}}" if s in by_value else s for s in scope["path"].split("/"))


class AccessLogMiddleware:
    """Writes one `arx.access` line per HTTP request once its response has been sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.log.info("request", extra=self._fields(scope, status, started))

    @staticmethod
    def _fields(scope: Scope, status: int, started: float) -> dict[str, Any]:
        state = scope.get("state") or {}
        fields: dict[str, Any] = {
            "request_id": state.get("request_id", "-"),
            "method": scope.get("method", "-"),
            "route": route_template(scope),
            "status": status,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        }
        principal = state.get("principal")
        if principal is not None:
            fields.update(username=principal.username, party=principal.party, role=str(principal.role))
        return fields
