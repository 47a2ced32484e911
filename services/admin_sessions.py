"""Admin session management (`/admin/sessions`): list, revoke one, revoke all of a user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from logic.auth import users as logic
from logic.auth.users import Actor
from models.user_session import UserSessionPublic, UserSessionsPage
from services.deps import AdminSessions, ClientDep, SessionDep
from services.pagination import MAX_OFFSET

router = APIRouter(prefix="/admin/sessions", tags=["admin"])


class SessionsRevoked(BaseModel):
    sessions_revoked: int


@router.get("")
def list_sessions(
    session: SessionDep,
    _: AdminSessions,
    user_id: int | None = None,
    active: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> UserSessionsPage:
    """Login sessions, newest first, filtered by user and liveness."""
    items, total, limit, offset = logic.list_sessions(
        session, user_id=user_id, active=active, limit=limit, offset=offset
    )
    return UserSessionsPage(items=items, total=total, limit=limit, offset=offset)


@router.post("/{session_id}/revoke")
def revoke_session(
    session_id: str, session: SessionDep, admin: AdminSessions, client: ClientDep
) -> UserSessionPublic:
    """End one session now; its tokens stop working on the next request."""
    revoked = logic.revoke_one_session(session, Actor(admin, client), session_id)
    return logic.session_public(session, revoked)


@router.post("/users/{user_id}/revoke")
def revoke_user_sessions(
    user_id: int, session: SessionDep, admin: AdminSessions, client: ClientDep
) -> SessionsRevoked:
    """End every session of one user."""
    ended = logic.revoke_all_sessions_of(session, Actor(admin, client), user_id)
    return SessionsRevoked(sessions_revoked=ended)
