"""Failing well when the database or the disk fails: clear 503/507 problems, bounded waits, and error
responses that leave the connection usable.

- Database errors are classified (``classify``): unreachable, frozen (a timeout), locked beyond the busy
  timeout → 503 with ``Retry-After``; disk full → 507. Anything else is a 500.
- ``ErrorBoundary`` renders whatever escaped the app as a problem document *without re-raising*:
  Starlette's own error middleware re-raises after answering, which makes the server drop the
  keep-alive connection (and the client's next request on it) without a ``Connection: close``.
- ``RequestDeadline`` answers 503 when a request has had no response for ``seconds`` (a frozen
  database answers nothing, and a server-side statement timeout cannot fire in a stopped server). The
  request's unit of work checks ``deadline_passed`` before committing and rolls back instead, so a
  request answered 503 leaves nothing behind — except a COMMIT already sent when the deadline passed,
  whose outcome the client cannot know (as with any timeout).
"""

from __future__ import annotations

import asyncio
import errno
import logging
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db import cancel_running
from app.errors import AppError, InsufficientStorage, ServiceUnavailable
from app.middleware import send_problem

log = logging.getLogger("arx")

# PostgreSQL SQLSTATEs: 53100 disk_full; 53xxx insufficient resources; 57014 query_canceled (statement
# timeout); 57P01-03 admin shutdown / crash shutdown / cannot connect now; 08xxx connection exceptions.
_FULL_STATES = ("53100",)
_UNAVAILABLE_PREFIXES = ("08", "57", "53")
_ENOSPC = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def classify(exc: BaseException) -> AppError | None:
    """The problem an infrastructure failure deserves (503 or 507), or None for a genuine bug."""
    if isinstance(exc, OSError) and exc.errno in _ENOSPC:
        return InsufficientStorage()
    if isinstance(exc, PoolTimeout):
        return ServiceUnavailable()
    if not isinstance(exc, SQLAlchemyError):
        return None
    orig = getattr(exc, "orig", None)
    name = getattr(orig, "sqlite_errorname", None)
    if name is not None:  # SQLite
        if name == "SQLITE_FULL" or "disk is full" in str(orig):
            return InsufficientStorage()
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in str(orig):
            return ServiceUnavailable("The database is busy; nothing was changed. Try again shortly.")
        if name.startswith("SQLITE_IOERR") or name == "SQLITE_CANTOPEN":
            return ServiceUnavailable()
        return None
    state = getattr(orig, "sqlstate", None) or ""
    if state in _FULL_STATES:
        return InsufficientStorage()
    if state.startswith(_UNAVAILABLE_PREFIXES):
        return ServiceUnavailable()
    if isinstance(exc, OperationalError | InterfaceError) and not state:
        # Refused, timed out or lost connections (psycopg's carry no SQLSTATE).
        return ServiceUnavailable()
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return ServiceUnavailable()
    return None


async def _answer(send: Send, error: AppError) -> None:
    await send_problem(send, error.status, error.title, error.detail, error.type_slug,
                       headers=[(k.lower().encode(), v.encode()) for k, v in error.headers.items()])


class ErrorBoundary:
    """Turns an exception that escaped the app into a problem document, keeping the connection usable."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            if started:
                raise  # half a response is out: only closing the connection can tell the client
            error = classify(exc)
            rid = (scope.get("state") or {}).get("request_id", "-")
            if error is None:
                log.error("unhandled error", exc_info=exc, extra={"request_id": rid})
                await send_problem(send, 500, "Internal server error",
                                   "The request could not be completed.", "internal")
            else:
                log.warning("request refused: database or disk unavailable",
                            extra={"request_id": rid, "status": error.status,
                                   "kind": type(exc).__name__})
                await _answer(send, error)


class RequestDeadline:
    """503 for a request still unanswered after ``seconds``; its late response is discarded."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        started = False
        abandoned = False

        async def guarded(message: Message) -> None:
            nonlocal started
            if abandoned:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, guarded))
        done, _ = await asyncio.wait({task}, timeout=self.seconds)
        if task in done:
            task.result()
            return
        if started:
            await task  # streaming already: let it finish
            return
        state["deadline_passed"] = True
        abandoned = True
        log.warning("request deadline passed: answered 503", extra={
            "request_id": state.get("request_id", "-"), "latency_ms": self.seconds * 1000})
        await _answer(send, ServiceUnavailable("The request did not complete in time (the database "
                                               "is not answering); it was not applied. Try again."))
        task.add_done_callback(_swallow)
        # Then stop its statement (a lock wait, a slow query): it rolls back now, freeing its connection,
        # its locks and its thread, instead of at statement_timeout.
        # Not awaited: a frozen server takes a second to fail to take the cancel.
        session = state.get("db_session")
        if session is not None:
            cancelling = asyncio.get_running_loop().run_in_executor(None, cancel_running, session)
            cancelling.add_done_callback(_swallow)


def _swallow(task: asyncio.Future[Any]) -> None:
    """Collect the outcome of a request answered 503 by its deadline (its work was rolled back)."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("request abandoned at its deadline ended with an error",
                    extra={"kind": type(task.exception()).__name__})


def deadline_passed(state: Any) -> bool:
    """True once RequestDeadline answered this request 503: its unit of work must roll back."""
    return bool(getattr(state, "deadline_passed", False))
