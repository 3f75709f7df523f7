"""What every portal page shares: the route class that turns errors into pages, the language, the
signed-in principal (from the session cookie, the same Principal the API builds from a token, so pages
call the same services and policy), and the CSRF check of every POST."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from app.api import DbSession, RuntimeDep, get_runtime, request_id
from app.auth.principal import Principal
from app.errors import AppError, Forbidden
from app.notifications.service import unread_count
from app.web import sessions
from app.web.i18n import LANG_COOKIE, direction, from_accept_language, supported, translations
from app.web.render import N_, render

LOGIN_CSRF_COOKIE = "__Host-arx_login"

ERROR_TITLES = {
    400: N_("Bad request"), 401: N_("Sign-in required"), 403: N_("Forbidden"), 404: N_("Not found"),
    409: N_("Conflict"), 413: N_("Too large"), 422: N_("Invalid input"),
    429: N_("Too many requests"), 500: N_("Something went wrong"),
}
ERROR_MESSAGES = {
    400: N_("The request could not be understood."),
    403: N_("You may not do this, or the form had expired. Nothing was changed."),
    404: N_("There is nothing here, or nothing you may see."),
    409: N_("Someone changed this in the meantime. Nothing was changed."),
    413: N_("What you sent is too large."),
    422: N_("Some of what you entered is not valid. Nothing was changed."),
    429: N_("Too many attempts. Wait a little and try again."),
    500: N_("The request could not be completed."),
}


class LoginRequired(Exception):
    """No live session: the route class answers with a redirect to the sign-in page."""

    def __init__(self, expired: bool = False) -> None:
        self.expired = expired


class EnrolmentRequired(Exception):
    """Signed in, but TOTP is mandatory and the account has none yet: only enrolment is open."""


@dataclass
class Portal:
    """The request's portal state: its live session, if any."""

    resolved: sessions.Resolved | None
    principal: Principal | None
    restricted: bool = False  # signed in, but must enrol TOTP first
    unread: int = 0  # the caller's unread notifications (the layout's bell)

    @property
    def csrf_token(self) -> str:
        return self.resolved.row.csrf_token if self.resolved else ""


def choose_language(request: Request) -> str | None:
    """?lang= (remembered: returns it to set the cookie), else the cookie, else Accept-Language."""
    asked = supported(request.query_params.get("lang"))
    lang = asked or supported(request.cookies.get(LANG_COOKIE)) or from_accept_language(
        request.headers.get("accept-language"))
    request.state.lang = lang
    request.state.dir = direction(lang)
    return asked


def error_page(request: Request, status: int, message: str | None = None,
               headers: dict[str, str] | None = None) -> Response:
    """The one page for an error status: identical whatever caused it (absent or invisible alike)."""
    _ = translations(getattr(request.state, "lang", "en")).gettext
    status = status if status in ERROR_TITLES else 500
    return render(request, "error.html", {"status": status, "title": _(ERROR_TITLES[status]),
                                          "message": message or _(ERROR_MESSAGES.get(status, ""))},
                  status=status, headers=headers)


NOT_PORTAL = ("/api/", "/.well-known/", "/health", "/docs", "/openapi.json", "/static/")


def unrouted_page(request: Request) -> Response | None:
    """The HTML 404 page for a browser's GET of a path no route serves (API clients keep problem+json)."""
    path = request.url.path
    if request.method != "GET" or path.startswith(NOT_PORTAL) or path in ("/health",) \
            or "text/html" not in request.headers.get("accept", ""):
        return None
    choose_language(request)
    return error_page(request, 404)


def login_redirect(request: Request, expired: bool) -> Response:
    target = "/login?expired=1" if expired else "/login"
    if request.method == "GET" and request.url.path not in ("/", "/login"):
        target += ("&" if "?" in target else "?") + "next=" + quote(request.url.path, safe="/")
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response


class PortalRoute(APIRoute):
    """Portal pages answer HTML: errors become the error page (or the page's own on_error renderer,
    e.g. a form shown again with its errors), a missing session a redirect to /login."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            remembered = choose_language(request)
            try:
                response = await original(request)
            except LoginRequired as exc:
                response = login_redirect(request, exc.expired)
            except EnrolmentRequired:
                response = RedirectResponse("/account", status_code=303)
            except AppError as exc:
                # Caught inside the unit of work's scope: roll it back here, before anything else,
                # so nothing half-done commits; then what must survive (audit, lockout) on its own.
                await run_in_threadpool(_abandon, request, exc)
                on_error = getattr(request.state, "on_error", None)
                shown = await run_in_threadpool(on_error, exc) if on_error is not None else None
                response = shown or error_page(request, exc.status, headers=_kept_headers(exc))
            except RequestValidationError:
                await run_in_threadpool(_abandon, request, None)
                response = error_page(request, 400)
            if remembered:
                response.set_cookie(LANG_COOKIE, remembered, max_age=365 * 86400, path="/",
                                    secure=True, httponly=True, samesite="strict")
            return response

        return handler


def _abandon(request: Request, exc: AppError | None) -> None:
    # The refusal's audit entry (or failed-login count) is written by Database.abandon, as for any
    # unit of work: the same code path as the API, the CLI and jobs.
    get_runtime(request).db.abandon(getattr(request.state, "db_session", None), exc)


def _kept_headers(exc: AppError) -> dict[str, str]:
    return {k: v for k, v in exc.headers.items() if k.lower() == "retry-after"}


def portal_router() -> APIRouter:
    """The router a portal page module starts from (not in the API's OpenAPI document)."""
    return APIRouter(route_class=PortalRoute, include_in_schema=False)


def clock(request: Request) -> datetime:
    """The portal's notion of now (tests turn it to check session expiry)."""
    now: datetime = request.app.state.portal_clock()
    return now


def _portal(request: Request, session: DbSession, runtime: RuntimeDep) -> Portal:
    cookie = request.cookies.get(sessions.COOKIE)
    resolved = sessions.resolve(session, runtime.settings, cookie, clock(request))
    principal = resolved.principal(request_id(request)) if resolved else None
    restricted = bool(resolved and runtime.settings.portal_require_totp
                      and resolved.user.totp_key_version is None)
    portal = Portal(resolved=resolved, principal=principal, restricted=restricted,
                    unread=unread_count(session, principal) if principal and not restricted else 0)
    request.state.portal = portal
    if principal is not None:
        request.state.principal = principal  # for the access log line (app/logging.py)
    return portal


PortalState = Annotated[Portal, Depends(_portal)]


def _signed_in_any(request: Request, portal: PortalState) -> Portal:
    if portal.principal is None:
        raise LoginRequired(expired=bool(request.cookies.get(sessions.COOKIE)))
    return portal


def _signed_in(portal: Annotated[Portal, Depends(_signed_in_any)]) -> Principal:
    if portal.restricted:
        raise EnrolmentRequired()
    assert portal.principal is not None
    return portal.principal


# A page's caller: Principal exactly as the API's CurrentPrincipal, so pages call the same services.
PagePrincipal = Annotated[Principal, Depends(_signed_in)]
# Signed in, possibly still owing TOTP enrolment (the account page and logout only).
AnySession = Annotated[Portal, Depends(_signed_in_any)]


async def _form(request: Request) -> FormData:
    return await request.form()


Form = Annotated[FormData, Depends(_form)]


def _csrf(request: Request, portal: AnySession, form: Form) -> None:
    """A state-changing form must carry the session's token: else 403 before anything happens."""
    assert portal.resolved is not None
    if not sessions.csrf_matches(portal.resolved, _text(form.get("csrf_token"))):
        raise Forbidden("missing or wrong CSRF token")


CsrfChecked = Depends(_csrf)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def field(form: FormData, name: str) -> str:
    """A text field, stripped ('' when absent or a file)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)
