"""Signing in and out of the portal, through the same authentication as the token endpoint."""

from __future__ import annotations

import secrets

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse

from app.api import DbSession, RuntimeDep, request_id
from app.auth import service as auth
from app.errors import AppError, Forbidden, TooManyRequests
from app.ratelimit import per_ip
from app.web import sessions
from app.web.deps import (
    LOGIN_CSRF_COOKIE,
    AnySession,
    CsrfChecked,
    Form,
    PortalState,
    clock,
    field,
    new_login_csrf,
    portal_router,
)
from app.web.render import gettext_for, render

router = portal_router()


def _safe_next(target: str) -> str:
    """Only a path of this site (no //host, no scheme): no open redirect."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/notices"


@router.get("/")
def home(portal: PortalState) -> Response:
    return RedirectResponse("/notices" if portal.principal else "/login", status_code=303)


def _login_page(request: Request, *, status: int = 200, error: str | None = None,
                username: str = "", next_path: str = "") -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_login_csrf()
    response = render(request, "auth/login.html", {
        "login_csrf": token, "error": error, "username": username, "next": next_path,
        "expired": request.query_params.get("expired") == "1"}, status=status)
    # Login CSRF: the form's token must equal this cookie (double submit), so no other site can sign
    # a victim's browser into an account of the attacker's choosing.
    response.set_cookie(LOGIN_CSRF_COOKIE, token, path="/", secure=True, httponly=True,
                        samesite="strict")
    return response


@router.get("/login")
def login_form(request: Request, portal: PortalState) -> Response:
    if portal.principal is not None:
        return RedirectResponse("/notices", status_code=303)
    return _login_page(request, next_path=_safe_next(request.query_params.get("next", "")))


# The token endpoint's per-address limit, same bucket: spraying passwords through the portal is slowed
# exactly as through the API (the per-account lockout is shared by auth.authenticate).
@router.post("/login", dependencies=[Depends(per_ip("token", "token_ip_rate_per_minute"))])
def login(request: Request, session: DbSession, runtime: RuntimeDep, form: Form) -> Response:
    """Password and TOTP through auth.authenticate (lockout, audit), then a fresh server-side session."""
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    given = field(form, "csrf_token")
    if not expected or not secrets.compare_digest(expected.encode(), given.encode()):
        raise Forbidden("missing or wrong CSRF token")
    username, next_path = field(form, "username"), _safe_next(field(form, "next"))
    _ = gettext_for(request)

    def failed(exc: AppError) -> Response:
        message = (_("Too many failed attempts. Wait a little and try again.")
                   if isinstance(exc, TooManyRequests) else
                   _("Invalid username, password or one-time code."))
        return _login_page(request, status=exc.status, error=message, username=username,
                           next_path=next_path)

    request.state.on_error = failed
    # In transactions of its own (the password is hashed with none open); the session starts in ours.
    principal, _ = auth.authenticate(runtime, username=username[:256],
                                     password=str(form.get("password") or "")[:1024],
                                     otp=field(form, "otp")[:16] or None,
                                     request_id=request_id(request))
    # A new id on every sign-in: a session id planted before login is never promoted (fixation).
    session_id, _row = sessions.start(session, principal, clock(request))
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(sessions.COOKIE, session_id, path="/", secure=True, httponly=True,
                        samesite="strict")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response


@router.post("/logout", dependencies=[CsrfChecked])
def logout(session: DbSession, portal: AnySession) -> Response:
    """End the session server-side; the cookie is cleared too."""
    assert portal.resolved is not None and portal.principal is not None
    sessions.end(session, portal.resolved, portal.principal)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response
