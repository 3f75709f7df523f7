from pydantic import BaseModel


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class OAuthErrorBody(BaseModel):
    """An RFC 6749 §5.2 error response of the token endpoint."""

    error: str
    error_description: str | None = None


class Me(BaseModel):
    username: str
    party: str
    role: str
