"""Application errors and their RFC 9457 problem-document rendering."""

from collections.abc import Callable
from typing import Any

PROBLEM_JSON = "application/problem+json"


class AppError(Exception):
    """Base of every error a service raises; rendered as a problem document."""

    status = 400
    title = "Bad request"
    type_slug = "bad-request"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None,
                 on_rollback: Callable[[Any], None] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        # Work that must survive this error (a denied-access audit entry, a failed-login counter): run
        # with a session in its own short transaction once the failed request's transaction rolled back.
        self.on_rollback = on_rollback

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        return problem_body(self.status, self.title, self.detail, self.type_slug,
                            instance=instance, errors=self.errors)


class InvalidInput(AppError):
    status = 422
    title = "Invalid input"
    type_slug = "invalid-input"


class Unauthorized(AppError):
    status = 401
    title = "Unauthorized"
    type_slug = "unauthorized"

    def __init__(self, detail: str = "Missing or invalid credentials.", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class Forbidden(AppError):
    status = 403
    title = "Forbidden"
    type_slug = "forbidden"


class NotFound(AppError):
    status = 404
    title = "Not found"
    type_slug = "not-found"

    def __init__(self, detail: str = "No such resource.", **kw: Any) -> None:
        super().__init__(detail, **kw)


class Conflict(AppError):
    status = 409
    title = "Conflict"
    type_slug = "conflict"


class TooManyRequests(AppError):
    status = 429
    title = "Too many requests"
    type_slug = "rate-limited"

    def __init__(self, detail: str, retry_after: int, **kw: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))}, **kw)


class ServiceUnavailable(AppError):
    """The database is unreachable, frozen or locked: nothing was done; try again shortly."""

    status = 503
    title = "Service unavailable"
    type_slug = "unavailable"

    def __init__(self, detail: str = "The service cannot reach its database right now; nothing was "
                 "changed. Try again shortly.", retry_after: int = 2, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": str(max(1, retry_after))})
        super().__init__(detail, **kw)


class InsufficientStorage(AppError):
    """The disk holding the database is full: nothing was written."""

    status = 507
    title = "Insufficient storage"
    type_slug = "insufficient-storage"

    def __init__(self, detail: str = "The database's disk is full; nothing was written. Try again "
                 "later.", retry_after: int = 30, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": str(max(1, retry_after))})
        super().__init__(detail, **kw)


def problem_body(status: int, title: str, detail: str, slug: str, *, instance: str | None = None,
                 errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An RFC 9457 problem document."""
    body: dict[str, Any] = {"type": f"urn:arx:problem:{slug}", "title": title, "status": status,
                            "detail": detail}
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return body
