"""The FastAPI application: routers, RFC 9457 error handlers, middleware."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import features  # noqa: F401  (registers every hook subscriber)
from app.api import reject_unknown_query
from app.config import Settings, get_settings
from app.crypto.envelope import DecryptionError
from app.errors import PROBLEM_JSON, AppError, problem_body
from app.logging import AccessLogMiddleware
from app.middleware import ArxMiddleware
from app.openapi import PROBLEM_RESPONSES, allowed_methods, with_problem_components
from app.resilience import ErrorBoundary, RequestDeadline
from app.runtime import Runtime
from app.web.deps import unrouted_page

log = logging.getLogger("arx")


def _problem(request: Request, status: int, title: str, detail: str, slug: str,
             errors: list[dict[str, Any]] | None = None,
             headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(problem_body(status, title, detail, slug, instance=request.url.path, errors=errors),
                        status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    # ("body", "subjects", 0, "birth_date") -> "subjects[0].birth_date"
    out = ""
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path", "header", "form") else loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or str(loc[0] if loc else "request")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def app_error(request: Request, exc: AppError) -> JSONResponse:
        return _problem(request, exc.status, exc.title, exc.detail, exc.type_slug, exc.errors, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Never echo the offending input back: it may be a name or an identifier.
        errors = [{"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg", "invalid")}
                  for e in exc.errors()]
        fields = ", ".join(sorted({e["field"] for e in errors}))
        return _problem(request, 422, "Invalid input", f"Invalid value for: {fields}.", "invalid-input",
                        errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and (page := unrouted_page(request)) is not None:
            return page  # a browser asking for a page that is not there: the portal's 404 page
        titles = {404: "Not found", 405: "Method not allowed", 401: "Unauthorized"}
        detail = exc.detail if isinstance(exc.detail, str) else "Request refused."
        if exc.status_code == 404:
            detail = "No such resource."
        headers = getattr(exc, "headers", None)
        allow = allowed_methods(request.app, request.scope["path"]) if exc.status_code == 405 else None
        if allow:
            # The router names only the first route matching the path; Allow must list them all.
            headers = {**(headers or {}), "Allow": allow}
        return _problem(request, exc.status_code, titles.get(exc.status_code, "Error"), detail,
                        titles.get(exc.status_code, "error").lower().replace(" ", "-"),
                        headers=headers)

    @app.exception_handler(DecryptionError)
    async def integrity_failure(request: Request, exc: DecryptionError) -> JSONResponse:
        # Tampered, moved or orphaned ciphertext: refuse loudly, never return another row's plaintext.
        log.error("stored ciphertext failed authentication",
                  extra={"request_id": getattr(request.state, "request_id", "-")})
        return _problem(request, 500, "Integrity failure",
                        "Stored data failed its integrity check; the operators have been alerted.",
                        "integrity-failure")

    # Anything else (database outages, full disks, bugs) is answered by app.resilience.ErrorBoundary,
    # which, unlike a handler for Exception here, does not re-raise and so keeps the connection usable.


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the ASGI app over settings (or an already built runtime, as tests do)."""
    settings = settings or (runtime.settings if runtime else get_settings())
    runtime = runtime or Runtime.build(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from app.audit.sequencer import run_sequencer
        from app.directory.tasks import run_reminder_job
        from app.notifications.mailer import run_mailer
        from app.requests.tasks import run_deadline_job

        runtime.adopt_keys()  # refuse to serve with a keyring that does not match the database
        async with (run_sequencer(runtime), run_mailer(runtime), run_deadline_job(runtime),
                    run_reminder_job(runtime)):
            yield

    docs = settings.expose_docs
    app = FastAPI(title="ARX — Asset Recovery eXchange", version="1.0", lifespan=lifespan,
                  docs_url="/docs" if docs else None, redoc_url=None,
                  openapi_url="/openapi.json" if docs else None,
                  dependencies=[Depends(reject_unknown_query)],
                  # One schema per model: input and output twins share a title, which makes client
                  # generators drop models (openapi-python-client lost NoticeRead, NoticeList, ...).
                  separate_input_output_schemas=False)
    app.openapi = lambda: with_problem_components(FastAPI.openapi(app))  # type: ignore[method-assign]
    app.state.runtime = runtime
    if not runtime.db.is_sqlite:
        # Rate limits shared by every instance on this database (app/ratelimit.py).
        app.state.rate_limit_engine = runtime.db.engine
    install_error_handlers(app)

    from app.audit.router import router as audit_router
    from app.auth.router import router as auth_router
    from app.auth.router import token_router, wellknown
    from app.directory.router import router as directory_router
    from app.enquiries.router import router as enquiries_router
    from app.legislation.router import router as legislation_router
    from app.notices.router import router as notices_router
    from app.notifications.router import router as notifications_router
    from app.parties.router import router as parties_router
    from app.reference.router import router as reference_router
    from app.requests.router import obstacles_router
    from app.requests.router import router as requests_router
    from app.search.router import router as search_router

    for router in (auth_router, parties_router, reference_router, notices_router, search_router,
                   enquiries_router, audit_router, notifications_router, requests_router,
                   obstacles_router, legislation_router, directory_router):
        app.include_router(router, prefix="/api/v1", responses=PROBLEM_RESPONSES)
    app.include_router(wellknown, responses=PROBLEM_RESPONSES)
    # The token endpoint answers its refusals as RFC 6749 errors (app/auth/router.py); only what the
    # middleware can still refuse (413) is a problem document there.
    app.include_router(token_router, prefix="/api/v1",
                       responses={413: PROBLEM_RESPONSES[413]})

    from app.web import install_portal

    install_portal(app)

    @app.get("/health", tags=["health"], responses=PROBLEM_RESPONSES)
    def health() -> dict[str, str]:
        """Liveness: the process answers. A load balancer uses /health/ready."""
        return {"status": "ok"}

    @app.get("/health/ready", tags=["health"], responses=PROBLEM_RESPONSES)
    def ready(request: Request) -> JSONResponse:
        """Readiness: database, disk and keyring; 503 problem document when any is not ok."""
        from app.health import readiness

        report = readiness(runtime)
        if all(v == "ok" for v in report.values()):
            return JSONResponse({"status": "ok", **report})
        return JSONResponse({**problem_body(503, "Not ready", "Not ready: " + ", ".join(
            f"{k} {v}" for k, v in report.items() if v != "ok") + ".", "not-ready",
            instance=request.url.path), "readiness": "degraded", **report},
            status_code=503, media_type=PROBLEM_JSON, headers={"Retry-After": "5"})

    # Innermost: the boundary renders what escaped the app; the deadline answers 503 for a frozen database.
    app.add_middleware(ErrorBoundary)
    app.add_middleware(RequestDeadline, seconds=settings.request_deadline_seconds)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "PUT", "DELETE"], allow_headers=["Authorization",
                                                                             "Content-Type"])
    app.add_middleware(ArxMiddleware, max_body_bytes=settings.max_body_bytes)
    # Outermost, so refusals by ArxMiddleware (413, TRACE) get their access line too.
    app.add_middleware(AccessLogMiddleware)
    return app
