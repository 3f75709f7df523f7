"""Token issue and revocation, the JWKS, and /me."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response

from app.api import CurrentPrincipal, DbSession, RuntimeDep, request_id
from app.auth import service
from app.auth.schemas import Me, TokenResponse
from app.ratelimit import per_ip

router = APIRouter(tags=["auth"])
wellknown = APIRouter(tags=["auth"])


# Per client address on top of the per-account lockout: spraying many usernames from one host is slowed too.
@router.post("/auth/token", response_model=TokenResponse,
             dependencies=[Depends(per_ip("token", "token_ip_rate_per_minute"))])
def issue_token(request: Request, runtime: RuntimeDep,
                username: Annotated[str, Form(max_length=256)],
                password: Annotated[str, Form(max_length=1024)],
                otp: Annotated[str | None, Form(max_length=16)] = None) -> TokenResponse:
    """OAuth2 password grant (+ otp when the user has TOTP). No request-wide unit of work: the login
    opens its own short transactions around the password check (app/auth/service.py)."""
    token, ttl = service.login(runtime, username=username, password=password, otp=otp,
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
