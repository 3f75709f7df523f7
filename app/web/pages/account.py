"""The account page: password change and TOTP enrolment (QR code drawn server-side, confirmed by a
code before it takes effect)."""

from __future__ import annotations

import io

import pyotp
import segno
from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from markupsafe import Markup

from app.api import DbSession, RuntimeDep
from app.crypto.envelope import DecryptionError
from app.crypto.keyring import KeyringError
from app.errors import AppError, InvalidInput
from app.users import service as users
from app.users.models import User
from app.web import sessions
from app.web.deps import AnySession, CsrfChecked, Form, field, portal_router
from app.web.render import N_, NavItem, gettext_for, render

router = portal_router()
NAV = [NavItem("/account", N_("Account"), order=90)]
ISSUER = "ARX"


def _qr_svg(uri: str) -> Markup:
    """An inline SVG (no data: URL, no inline style: the CSP allows it as it is)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", xmldecl=False, svgns=True, nl=False, omitsize=True,
                                    scale=4, border=2, title="QR", svgclass=None, lineclass=None)
    return Markup(buffer.getvalue().decode())


def _page(request: Request, session: DbSession, runtime: RuntimeDep, portal: AnySession, *,
          errors: dict[str, str] | None = None, status: int = 200, done: str | None = None) -> Response:
    assert portal.resolved is not None
    user = session.get(User, portal.resolved.user.id)
    assert user is not None
    pending = _pending_secret(runtime, portal)
    enrolment = None
    if pending is not None:
        secret = pending
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
        enrolment = {"secret": secret, "qr": _qr_svg(uri)}
    return render(request, "account/account.html", {
        "has_totp": user.totp_key_version is not None, "enrolment": enrolment,
        "errors": errors or {}, "done": done,
        "require_totp": runtime.settings.portal_require_totp}, status=status)


def _pending_secret(runtime: RuntimeDep, portal: AnySession) -> str | None:
    """The secret offered to this session, if any. One sealed under a key version since retired (or
    not re-wrapped) is simply dropped: the user starts the enrolment again."""
    assert portal.resolved is not None
    sealed = portal.resolved.row.pending_totp()
    if sealed is None:
        return None
    try:
        return runtime.envelope.open(sealed, _pending_aad(portal)).decode()
    except (DecryptionError, KeyringError, ValueError):
        portal.resolved.row.store_pending_totp(None)
        return None


def _pending_aad(portal: AnySession) -> bytes:
    assert portal.resolved is not None
    return b"arx/portal-pending-totp|" + portal.resolved.row.id_hash.encode()


@router.get("/account")
def account(request: Request, session: DbSession, runtime: RuntimeDep, portal: AnySession) -> Response:
    done = {"password": N_("Your password has been changed. Other sessions have been signed out."),
            "totp": N_("Two-step sign-in is now on for your account.")}.get(
        request.query_params.get("done", ""))
    _ = gettext_for(request)
    return _page(request, session, runtime, portal, done=_(done) if done else None)


@router.post("/account/password", dependencies=[CsrfChecked])
def change_password(request: Request, session: DbSession, runtime: RuntimeDep, portal: AnySession,
                    form: Form) -> Response:
    assert portal.resolved is not None and portal.principal is not None
    _ = gettext_for(request)
    new, repeat = str(form.get("new_password") or ""), str(form.get("repeat_password") or "")

    def failed(exc: AppError) -> Response | None:
        if not isinstance(exc, InvalidInput):
            return None
        wrong = {"current_password": _("The current password is not right."),
                 "new_password": _("Choose a password of 12 characters or more."),
                 "repeat_password": _("The two new passwords differ.")}
        errors = {e["field"]: wrong[e["field"]] for e in exc.errors or [] if e["field"] in wrong}
        return _page(request, session, runtime, portal, errors=errors, status=422)

    request.state.on_error = failed
    if new != repeat:
        raise InvalidInput("passwords differ", errors=[{"field": "repeat_password",
                                                        "message": "differs"}])
    users.change_password(session, portal.principal, current=str(form.get("current_password") or ""),
                          new=new)
    sessions.refresh_after_password_change(portal.resolved)
    return RedirectResponse("/account?done=password", status_code=303)


@router.post("/account/totp/start", dependencies=[CsrfChecked])
def start_totp(runtime: RuntimeDep, portal: AnySession) -> Response:
    """Offer a fresh secret (kept sealed in this session until confirmed)."""
    assert portal.resolved is not None
    portal.resolved.row.store_pending_totp(
        runtime.envelope.seal(users.new_totp_secret().encode(), _pending_aad(portal)))
    return RedirectResponse("/account#totp", status_code=303)


@router.post("/account/totp/confirm", dependencies=[CsrfChecked])
def confirm_totp(request: Request, session: DbSession, runtime: RuntimeDep, portal: AnySession,
                 form: Form) -> Response:
    assert portal.resolved is not None and portal.principal is not None
    secret = _pending_secret(runtime, portal)
    if secret is None:
        return RedirectResponse("/account", status_code=303)
    _ = gettext_for(request)

    def failed(exc: AppError) -> Response | None:
        if not isinstance(exc, InvalidInput):
            return None
        return _page(request, session, runtime, portal, status=422, errors={
            "code": _("That code does not match. Enter the six digits your app shows now.")})

    request.state.on_error = failed
    users.enrol_totp(session, portal.principal, runtime.envelope, secret=secret,
                     code=field(form, "code"))
    portal.resolved.row.store_pending_totp(None)
    return RedirectResponse("/account?done=totp", status_code=303)


