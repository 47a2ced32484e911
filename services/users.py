"""Admin user management (`/users`): CRUD, search, activation, unlock, roles, password reset."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from logic.auth import users as logic
from logic.auth.users import Actor
from models.user import (
    PasswordReset,
    UserCreate,
    UserPublic,
    UserRolesUpdate,
    UsersPage,
    UserUpdate,
)
from services.deps import AdminUsers, ClientDep, SessionDep
from services.openapi import error_responses
from services.pagination import MAX_OFFSET

router = APIRouter(prefix="/users", tags=["users"])


@router.get("")
def list_users(
    session: SessionDep,
    _: AdminUsers,
    search: Annotated[str | None, Query(max_length=100)] = None,
    active: bool | None = None,
    role: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> UsersPage:
    """List users, newest id last, filtered by search text, activity or role."""
    items, total, limit, offset = logic.list_users(
        session, search=search, active=active, role=role, limit=limit, offset=offset
    )
    return UsersPage(items=items, total=total, limit=limit, offset=offset)


@router.post("", status_code=201, responses=error_responses(409))
def create_user(
    body: UserCreate, session: SessionDep, admin: AdminUsers, client: ClientDep
) -> UserPublic:
    """Create a user with an initial password and roles."""
    user = logic.create_user(session, Actor(admin, client), body)
    return logic.user_public(session, user)


@router.get("/{user_id}")
def get_user(user_id: int, session: SessionDep, _: AdminUsers) -> UserPublic:
    """One user with their roles."""
    return logic.user_public(session, logic.get_user(session, user_id))


@router.patch("/{user_id}", responses=error_responses(409))
def update_user(
    user_id: int, body: UserUpdate, session: SessionDep, admin: AdminUsers, client: ClientDep
) -> UserPublic:
    """Change a user's email, full name or (superusers only) superuser flag."""
    user = logic.update_user(session, Actor(admin, client), user_id, body)
    return logic.user_public(session, user)


@router.delete("/{user_id}", status_code=204, responses=error_responses(409))
def delete_user(user_id: int, session: SessionDep, admin: AdminUsers, client: ClientDep) -> None:
    """Delete a user who has no history elsewhere (otherwise deactivate)."""
    logic.delete_user(session, Actor(admin, client), user_id)


@router.post("/{user_id}/activate")
def activate_user(
    user_id: int, session: SessionDep, admin: AdminUsers, client: ClientDep
) -> UserPublic:
    """Allow a deactivated user to log in again."""
    user = logic.set_active(session, Actor(admin, client), user_id, True)
    return logic.user_public(session, user)


@router.post("/{user_id}/deactivate")
def deactivate_user(
    user_id: int, session: SessionDep, admin: AdminUsers, client: ClientDep
) -> UserPublic:
    """Block a user from logging in and end all of their sessions now."""
    user = logic.set_active(session, Actor(admin, client), user_id, False)
    return logic.user_public(session, user)


@router.post("/{user_id}/unlock")
def unlock_user(
    user_id: int, session: SessionDep, admin: AdminUsers, client: ClientDep
) -> UserPublic:
    """Lift a lockout caused by failed logins."""
    user = logic.unlock_user(session, Actor(admin, client), user_id)
    return logic.user_public(session, user)


@router.put("/{user_id}/roles")
def set_user_roles(
    user_id: int, body: UserRolesUpdate, session: SessionDep, admin: AdminUsers, client: ClientDep
) -> UserPublic:
    """Replace a user's roles (never your own)."""
    user = logic.set_roles(session, Actor(admin, client), user_id, body.roles)
    return logic.user_public(session, user)


@router.post("/{user_id}/reset-password")
def reset_password(
    user_id: int, body: PasswordReset, session: SessionDep, admin: AdminUsers, client: ClientDep
) -> UserPublic:
    """Set a new password for a user and end all of their sessions."""
    user, _ = logic.reset_password(session, Actor(admin, client), user_id, body.new_password)
    return logic.user_public(session, user)
