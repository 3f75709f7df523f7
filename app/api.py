"""FastAPI dependencies: the runtime, one unit of work per request, and the authenticated principal."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.principal import Principal, Role
from app.auth.tokens import TokenError
from app.errors import InvalidInput, ServiceUnavailable, Unauthorized
from app.openapi import declared_query
from app.params import refuse_control_characters
from app.resilience import deadline_passed
from app.runtime import Runtime
from app.users.models import RevokedToken, User

# Declared as the OAuth 2.0 password flow so generated clients know where tokens come from; the
# credential itself is an RFC 6750 bearer token (ES256 JWT).
_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False,
                               scheme_name="oauth2",
                               description="ES256 access token from /api/v1/auth/token")
# RFC 6750 §3.1: a presented token that fails gets error="invalid_token"; none presented, no error code.
INVALID_TOKEN = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def request_id(request: Request) -> str:
    return getattr(request.state, "request_id", "-")


def _session(request: Request) -> Iterator[Session]:
    """The request's unit of work (which audits a refusal in its own transaction: app/db.py)."""
    with get_runtime(request).db.unit_of_work() as session:
        # Portal pages answer errors with a page, inside this dependency's scope: they abandon this
        # session themselves (app/web/deps.py, PortalRoute, through Database.abandon).
        request.state.db_session = session
        yield session
        if deadline_passed(request.state):
            raise ServiceUnavailable()  # already answered 503 (app/resilience.py): roll back instead


# scope="function": the transaction commits (audit entry included) *before* the response is sent.
DbSession = Annotated[Session, Depends(_session, scope="function")]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def _principal(request: Request, session: DbSession, runtime: RuntimeDep,
               token: Annotated[str | None, Depends(_bearer)]) -> Principal:
    if not token:
        raise Unauthorized()
    try:
        claims = runtime.tokens.verify(token)
    except TokenError as exc:
        raise Unauthorized(headers=INVALID_TOKEN) from exc
    # One round trip: the account and whether this token was revoked (logout).
    row = session.execute(select(User, RevokedToken.jti)
                          .outerjoin(RevokedToken, RevokedToken.jti == claims.jti)
                          .where(User.username == claims.sub)).first()
    user, revoked = row if row is not None else (None, None)
    if revoked is not None:
        raise Unauthorized(headers=INVALID_TOKEN)
    # Disabling a user, or changing its role or party, bumps token_version: older tokens die at once.
    if (user is None or user.disabled or user.party_code != claims.party or user.role != claims.role
            or user.token_version != claims.token_version):
        raise Unauthorized(headers=INVALID_TOKEN)
    principal = Principal(username=user.username, party=user.party_code, role=Role(user.role),
                          user_id=user.id, jti=claims.jti, expires_at=claims.exp,
                          request_id=request_id(request))
    request.state.principal = principal  # for the access log line (app/logging.py)
    _refuse_unknown_query(request)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(_principal)]



def _declared(request: Request) -> tuple[frozenset[str], bool] | None:
    """declared_query for this request, looked up once (both the app-wide check and _principal ask)."""
    state = request.state
    if not hasattr(state, "declared_query"):
        state.declared_query = declared_query(request.app, request.method, request.scope["path"])
    return state.declared_query


def _refuse_unknown_query(request: Request) -> None:
    operation = _declared(request)
    if operation is not None and set(request.query_params) - operation[0]:
        # The parameter's name is not echoed: it is whatever the client typed.
        raise InvalidInput("Unknown query parameter.",
                           errors=[{"field": "query", "message": "unknown parameter"}])
    refuse_control_characters(request.query_params.multi_items(),
                              operation[0] if operation is not None else ())


def reject_unknown_query(request: Request) -> None:
    """Refuse undeclared query parameters (422), as bodies refuse unknown fields: no parameter pollution.

    Routes that need a token check after authentication (_principal), so a caller without valid
    credentials gets 401 whatever its query string holds."""
    operation = _declared(request)
    if operation is not None and not operation[1]:
        _refuse_unknown_query(request)
