"""Token issue and revocation, the JWKS, and /me."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from app.api import CurrentPrincipal, DbSession, RuntimeDep, request_id
from app.auth import service
from app.auth.schemas import Me, OAuthErrorBody, TokenResponse
from app.errors import AppError, InvalidInput, TooManyRequests, Unauthorized
from app.ratelimit import per_ip

wellknown = APIRouter(tags=["auth"])
# RFC 6749 §5.1: token responses, successful or not, must not be stored by any cache.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# RFC 6749 §5.2 error codes for what ARX refuses at the token endpoint (429 keeps its status and
# Retry-After: a throttled client should wait, not re-prompt for a password).
_OAUTH_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (Unauthorized, "invalid_grant"), (TooManyRequests, "slow_down"),
    (InvalidInput, "invalid_request"), (RequestValidationError, "invalid_request"))


class UnsupportedGrantType(InvalidInput):
    """A grant type other than the password grant."""


def oauth_error(exc: Exception) -> JSONResponse | None:
    """The RFC 6749 §5.2 rendering of a refusal at the token endpoint; None for server-side failures."""
    code = "unsupported_grant_type" if isinstance(exc, UnsupportedGrantType) else next(
        (code for kind, code in _OAUTH_ERRORS if isinstance(exc, kind)), None)
    if code is None:
        return None
    status = exc.status if isinstance(exc, TooManyRequests) else 400
    headers = {**(exc.headers if isinstance(exc, AppError) else {}), **NO_STORE}
    headers.pop("WWW-Authenticate", None)  # no client authentication is involved (RFC 6749 §5.2)
    description = exc.detail if isinstance(exc, AppError) else "Malformed token request."
    return JSONResponse({"error": code, "error_description": description}, status_code=status,
                        headers=headers)


class OAuthTokenRoute(APIRoute):
    """The token endpoint speaks OAuth 2.0 errors, not problem documents: OAuth clients (Authlib,
    requests-oauthlib) read `error`. Refusals raised by its dependencies (the per-address limit) and
    its form validation are rendered the same way; everything else keeps problem+json."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response = await handler(request)
            except (AppError, RequestValidationError) as exc:
                rendered = oauth_error(exc)
                if rendered is None:
                    raise
                return rendered
            response.headers.update(NO_STORE)
            return response

        return handle


router = APIRouter(tags=["auth"])
token_router = APIRouter(tags=["auth"], route_class=OAuthTokenRoute)


def _required(name: str, value: str | None, max_length: int) -> str:
    if not value or len(value) > max_length:
        raise InvalidInput(f"{name}: required, at most {max_length} characters",
                           errors=[{"field": name, "message": "required"}])
    return value


# Per client address on top of the per-account lockout: spraying many usernames from one host is slowed too.
@token_router.post("/auth/token", response_model=TokenResponse,
                   dependencies=[Depends(per_ip("token", "token_ip_rate_per_minute"))],
                   # "4XX" also keeps FastAPI from documenting a 422 this endpoint never sends.
                   responses={"4XX": {"model": OAuthErrorBody,
                                      "description": "RFC 6749 §5.2 error: 400, or 429 slow_down "
                                                     "with Retry-After while throttled"}})
def issue_token(request: Request, runtime: RuntimeDep,
                grant_type: Annotated[str | None, Form()] = None,
                username: Annotated[str | None, Form()] = None,
                password: Annotated[str | None, Form()] = None,
                otp: Annotated[str | None, Form()] = None,
                scope: Annotated[str | None, Form()] = None) -> TokenResponse:
    """OAuth 2.0 password grant (RFC 6749 §4.3), + `otp` when the user has TOTP.

    `grant_type` may be omitted (the v1 contract named only username and password); any value other
    than `password` is refused with unsupported_grant_type. `scope` is accepted and ignored: a token's
    rights come from the user's role. No request-wide unit of work: the login opens its own short
    transactions around the password check (app/auth/service.py)."""
    if grant_type not in (None, "password"):
        raise UnsupportedGrantType("Only the password grant is supported.",
                                   errors=[{"field": "grant_type", "message": "unsupported"}])
    token, ttl = service.login(runtime, username=_required("username", username, 256),
                               password=_required("password", password, 1024),
                               otp=_required("otp", otp, 16) if otp else None,
                               request_id=request_id(request))
    return TokenResponse(access_token=token, expires_in=ttl)


@router.post("/auth/logout", status_code=204, response_class=Response)
def logout(session: DbSession, principal: CurrentPrincipal) -> Response:
    """Revoke the presented token."""
    service.logout(session, principal)
    return Response(status_code=204)


@router.get("/me", response_model=Me)
def me(principal: CurrentPrincipal) -> Me:
    return Me(username=principal.username, party=principal.party, role=str(principal.role))


@wellknown.get("/.well-known/jwks.json")
def jwks(runtime: RuntimeDep, response: Response) -> dict[str, Any]:
    """Public keys of every signing version still valid.

    Cacheable for a minute: relying parties refetch a JWKS when a token names a kid they have not seen
    (so a rotation is picked up at once), and a retired key is refused by ARX itself whatever a cache
    still holds."""
    response.headers["Cache-Control"] = "public, max-age=60"
    return runtime.tokens.jwks()
