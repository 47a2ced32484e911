"""Login, token refresh, logout and the caller's own account (`/auth`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field

from helpers.time_utils import utc_now
from logic.auth import service
from models.user import Me, PasswordChange, User
from services.deps import AuthPrincipalDep, AuthSessionDep, ClientDep, PrincipalDep, SessionDep
from services.openapi import error_responses

router = APIRouter(prefix="/auth", tags=["auth"])


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth2 token type)
    expires_in: int


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=256)


class SessionsEnded(BaseModel):
    sessions_revoked: int


def _token_response(pair: service.TokenPair) -> TokenResponse:
    expires_in = max(0, int((pair.expires_at - utc_now()).total_seconds()))
    return TokenResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=expires_in
    )


@router.post("/token", responses=error_responses(401, 429))
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: AuthSessionDep,
    client: ClientDep,
) -> TokenResponse:
    """Log in with username or email and password (OAuth2 password form)."""
    pair = service.login(session, form.username, form.password, client)
    return _token_response(pair)


@router.post("/refresh", responses=error_responses(401))
def refresh_token(
    body: RefreshRequest, session: AuthSessionDep, client: ClientDep
) -> TokenResponse:
    """Exchange a refresh token for a new access + refresh pair (the old one is retired)."""
    return _token_response(service.refresh(session, body.refresh_token, client))


@router.post("/logout", status_code=204)
def logout(principal: PrincipalDep, session: SessionDep, client: ClientDep) -> None:
    """End this session; its access and refresh tokens stop working at once."""
    service.logout(session, principal, client)


@router.post("/logout-all")
def logout_all(principal: PrincipalDep, session: SessionDep, client: ClientDep) -> SessionsEnded:
    """End every session of the caller, on every device."""
    return SessionsEnded(sessions_revoked=service.logout_all(session, principal, client))


@router.get("/me")
def me(principal: PrincipalDep) -> Me:
    """The caller's account, roles and effective permissions."""
    user: User = principal.user
    return Me(
        id=user.id,
        username=user.username,
        email=user.email,
        full_name=user.full_name,
        is_superuser=user.is_superuser,
        roles=sorted(principal.roles),
        permissions=sorted(principal.permissions),
        session_id=principal.session.id,
    )


@router.post("/change-password", responses=error_responses(429))
def change_password(
    body: PasswordChange, principal: AuthPrincipalDep, session: AuthSessionDep, client: ClientDep
) -> SessionsEnded:
    """Change the caller's password; every other session of theirs ends."""
    ended = service.change_password(
        session, principal, body.current_password, body.new_password, client
    )
    return SessionsEnded(sessions_revoked=ended)
