"""Typed builders for auth tests: users with roles, ad-hoc roles, tokens via the real service.

The password hash is computed once per process (argon2 costs ~20 ms), so building users is cheap.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from functools import lru_cache

from sqlmodel import Session

from logic.auth import service
from logic.auth.audit import ClientInfo
from logic.auth.permissions import Permission
from logic.auth.security import hash_password
from models.user import Role, RolePermission, User, UserRole

DEFAULT_PASSWORD = "correct horse battery staple"


@lru_cache(maxsize=8)
def password_hash(password: str = DEFAULT_PASSWORD) -> str:
    return hash_password(password)


def make_role(
    session: Session, permissions: Iterable[Permission | str], *, name: str | None = None
) -> Role:
    role = Role(name=name or f"test-{uuid.uuid4().hex[:10]}", description="test role")
    session.add(role)
    session.flush()
    for permission in sorted({Permission(p).value for p in permissions}):
        session.add(RolePermission(role_id=role.id, permission=permission))
    session.flush()
    return role


def make_user(
    session: Session,
    *,
    username: str | None = None,
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
    roles: Iterable[str] = (),
    permissions: Iterable[Permission | str] | None = None,
    superuser: bool = False,
    active: bool = True,
    hashed_password: str | None = None,
    full_name: str = "Test User",
) -> User:
    """A user with the named (existing) roles, plus an ad-hoc role when `permissions` is given."""
    username = username or f"user-{uuid.uuid4().hex[:10]}"
    user = User(
        username=username,
        email=email or f"{username}@example.com",
        full_name=full_name,
        hashed_password=hashed_password or password_hash(password),
        is_active=active,
        is_superuser=superuser,
    )
    session.add(user)
    session.flush()
    role_ids = [role.id for role in Role.get_many_by_name(session, list(roles))]
    if len(role_ids) != len(set(roles)):
        raise ValueError(f"unknown role in {list(roles)}")
    if permissions is not None:
        role_ids.append(make_role(session, permissions).id)
    for role_id in role_ids:
        session.add(UserRole(user_id=user.id, role_id=role_id))
    session.flush()
    return user


def bearer_for(session: Session, user: User) -> dict[str, str]:
    """Headers with an access token from a real session (the same path `/auth/token` takes)."""
    pair = service.issue_session(session, user, ClientInfo(ip="testclient", user_agent="pytest"))
    return {"Authorization": f"Bearer {pair.access_token}"}


def login_tokens(client, login: str, password: str = DEFAULT_PASSWORD) -> dict:
    """Log in through `POST /auth/token` and return the token response (asserting success)."""
    response = client.post("/auth/token", data={"username": login, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}
