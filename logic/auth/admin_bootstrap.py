"""Creating administrators outside the API: the CLI's `create-admin` and the demo admin `make run`
seeds (`ensure_demo_admin`), both through the same code path."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlmodel import Session

from config import Settings, get_settings
from db.database import session_scope
from helpers.errors import Conflict, Unprocessable
from helpers.time_utils import utc_now
from logic.auth import audit, security
from models.user import PASSWORD_MIN_LENGTH, Role, User, UserRole


@dataclass(frozen=True)
class DemoAdmin:
    user: User
    created: bool
    generated_password: str | None  # set only when we made one up; shown once, never stored


def create_admin(
    session: Session,
    *,
    username: str,
    email: str,
    password: str,
    full_name: str = "Administrator",
    actor_label: str = "cli",
) -> User:
    """A superuser holding the `admin` role; refuses duplicates and short passwords."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise Unprocessable(
            f"password must have at least {PASSWORD_MIN_LENGTH} characters", loc=("password",)
        )
    if User.exists_with(session, username=username, email=email):
        raise Conflict(f"a user named {username!r} or with email {email!r} already exists")
    user = User(
        username=username,
        email=email,
        full_name=full_name,
        hashed_password=security.hash_password(password),
        is_superuser=True,
        password_changed_at=utc_now(),
    )
    session.add(user)
    session.flush()
    role = Role.get_by_name(session, "admin")
    if role is not None:
        session.add(UserRole(user_id=user.id, role_id=role.id))
    audit.record(
        session,
        "user.created",
        actor_label=actor_label,
        resource_type="user",
        resource_id=user.id,
        details={"username": username, "is_superuser": True, "roles": ["admin"]},
    )
    session.flush()
    return user


def ensure_demo_admin(
    session: Session | None = None, settings: Settings | None = None
) -> DemoAdmin:
    """Create the demo admin from `DEMO_ADMIN_*` settings unless it exists; idempotent.

    Without `DEMO_ADMIN_PASSWORD` a random password is generated and returned once for the
    caller to print; an existing admin's password is never touched. Without a session it runs
    in its own committed unit of work.
    """
    if session is None:
        with session_scope() as own:
            return ensure_demo_admin(own, settings)
    settings = settings or get_settings()
    existing = User.get_by_username(session, settings.DEMO_ADMIN_USERNAME)
    if existing is not None:
        return DemoAdmin(existing, created=False, generated_password=None)
    configured = settings.DEMO_ADMIN_PASSWORD.get_secret_value()
    password = configured or secrets.token_urlsafe(12)
    user = create_admin(
        session,
        username=settings.DEMO_ADMIN_USERNAME,
        email=settings.DEMO_ADMIN_EMAIL,
        password=password,
        full_name="Demo Admin",
        actor_label="seed",
    )
    return DemoAdmin(user, created=True, generated_password=None if configured else password)
