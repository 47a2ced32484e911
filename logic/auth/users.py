"""Admin operations on users, roles, sessions and the audit trail; each mutation is audited.

Guards against privilege escalation live here, not in routers: nobody changes their own
superuser flag, roles or activation, and only a superuser grants or removes superuser.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from helpers.errors import Conflict, Forbidden, NotFound, Unprocessable
from helpers.time_utils import utc_now
from logic.auth import audit, security, service
from logic.auth.audit import ClientInfo
from logic.auth.permissions import Permission
from models.audit_log import AuditLog
from models.user import (
    Role,
    RoleCreate,
    RolePermission,
    RolePublic,
    RoleUpdate,
    User,
    UserCreate,
    UserPublic,
    UserRole,
    UserUpdate,
)
from models.user_session import UserSession, UserSessionPublic

MAX_PAGE = 200


@dataclass(frozen=True)
class Actor:
    """The admin performing a mutation and where the request came from."""

    user: User
    client: ClientInfo


class UserNotFound(NotFound):
    code = "user_not_found"


class RoleNotFound(NotFound):
    code = "role_not_found"


class SessionNotFound(NotFound):
    code = "session_not_found"


def _audit(session: Session, actor: Actor, action: str, resource_type: str, resource_id, **details):
    audit.record(
        session,
        action,
        actor=actor.user,
        resource_type=resource_type,
        resource_id=resource_id,
        details=details,
        client=actor.client,
    )


def _page_bounds(limit: int, offset: int) -> tuple[int, int]:
    return max(1, min(limit, MAX_PAGE)), max(0, offset)


# --- users -------------------------------------------------------------------------------


def to_public(user: User, roles: list[str]) -> UserPublic:
    return UserPublic(**user.model_dump(exclude={"hashed_password"}), roles=roles)


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise UserNotFound(f"user {user_id} not found")
    return user


def user_public(session: Session, user: User) -> UserPublic:
    return to_public(user, User.role_names(session, [user.id])[user.id])


def list_users(
    session: Session,
    *,
    search: str | None = None,
    active: bool | None = None,
    role: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[UserPublic], int, int, int]:
    """A page of users (two statements plus one for their roles)."""
    limit, offset = _page_bounds(limit, offset)
    query = select(User)
    if search:
        pattern = f"%{search.strip().lower()}%"
        query = query.where(
            or_(
                func.lower(User.username).like(pattern),
                func.lower(User.email).like(pattern),
                func.lower(User.full_name).like(pattern),
            )
        )
    if active is not None:
        query = query.where(User.is_active == active)
    if role:
        query = query.where(
            User.id.in_(
                select(UserRole.user_id)
                .join(Role, Role.id == UserRole.role_id)
                .where(Role.name == role)
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    users = list(session.scalars(query.order_by(User.id).limit(limit).offset(offset)))
    roles = User.role_names(session, [u.id for u in users])
    return [to_public(u, roles[u.id]) for u in users], total, limit, offset


def _resolve_roles(session: Session, names: list[str]) -> list[Role]:
    wanted = sorted(set(names))
    roles = Role.get_many_by_name(session, wanted)
    missing = sorted(set(wanted) - {r.name for r in roles})
    if missing:
        raise Unprocessable(
            f"unknown roles: {', '.join(missing)}", loc=("body", "roles"), input=missing
        )
    return roles


def create_user(session: Session, actor: Actor, data: UserCreate) -> User:
    if data.is_superuser and not actor.user.is_superuser:
        raise Forbidden("only a superuser can create a superuser")
    if User.exists_with(session, username=data.username, email=data.email):
        raise Conflict("a user with that username or email already exists")
    roles = _resolve_roles(session, data.roles)
    now = utc_now()
    user = User(
        username=data.username.strip(),
        email=data.email.strip(),
        full_name=data.full_name,
        hashed_password=security.hash_password(data.password),
        is_active=data.is_active,
        is_superuser=data.is_superuser,
        password_changed_at=now,
    )
    session.add(user)
    session.flush()
    for role in roles:
        session.add(UserRole(user_id=user.id, role_id=role.id))
    _audit(
        session,
        actor,
        "user.created",
        "user",
        user.id,
        username=user.username,
        roles=[r.name for r in roles],
        is_superuser=user.is_superuser,
    )
    session.flush()
    return user


def update_user(session: Session, actor: Actor, user_id: int, data: UserUpdate) -> User:
    user = get_user(session, user_id)
    changes = data.model_dump(exclude_unset=True)
    if "is_superuser" in changes and changes["is_superuser"] != user.is_superuser:
        if user.id == actor.user.id:
            raise Forbidden("you cannot change your own superuser flag")
        if not actor.user.is_superuser:
            raise Forbidden("only a superuser can grant or remove superuser")
    if changes.get("email") and User.exists_with(session, username=None, email=changes["email"]):
        other = session.scalars(
            select(User.id).where(func.lower(User.email) == changes["email"].strip().lower())
        ).first()
        if other != user.id:
            raise Conflict("a user with that email already exists")
    before = {key: getattr(user, key) for key in changes}
    for key, value in changes.items():
        if value is not None:
            setattr(user, key, value.strip() if isinstance(value, str) else value)
    user.updated_at = utc_now()
    _audit(
        session,
        actor,
        "user.updated",
        "user",
        user.id,
        before=before,
        after={key: getattr(user, key) for key in changes},
    )
    session.flush()
    return user


def set_active(session: Session, actor: Actor, user_id: int, active: bool) -> User:
    """Activate or deactivate; deactivating ends every session of the user at once."""
    user = get_user(session, user_id)
    if user.id == actor.user.id:
        raise Forbidden("you cannot activate or deactivate yourself")
    if user.is_superuser and not actor.user.is_superuser:
        raise Forbidden("only a superuser can change a superuser's status")
    user.is_active = active
    user.updated_at = utc_now()
    ended = 0 if active else service.revoke_user_sessions(session, user.id, "user_deactivated")
    action = "user.activated" if active else "user.deactivated"
    _audit(session, actor, action, "user", user.id, sessions_revoked=ended)
    session.flush()
    return user


def unlock_user(session: Session, actor: Actor | None, user_id: int) -> User:
    """Clear the lockout and failure counters (the owner's way back after a brute-force run)."""
    user = get_user(session, user_id)
    was_locked_until = user.locked_until
    user.failed_login_count = 0
    user.lockout_count = 0
    user.locked_until = None
    user.updated_at = utc_now()
    audit.record(
        session,
        "user.unlocked",
        actor=actor.user if actor else None,
        actor_label=None if actor else "cli",
        resource_type="user",
        resource_id=user.id,
        details={"locked_until": was_locked_until.isoformat() if was_locked_until else None},
        client=actor.client if actor else None,
    )
    session.flush()
    return user


def set_roles(session: Session, actor: Actor, user_id: int, names: list[str]) -> User:
    user = get_user(session, user_id)
    if user.id == actor.user.id:
        raise Forbidden("you cannot change your own roles")
    roles = _resolve_roles(session, names)
    before = User.role_names(session, [user.id])[user.id]
    session.execute(delete(UserRole).where(UserRole.user_id == user.id))
    for role in roles:
        session.add(UserRole(user_id=user.id, role_id=role.id))
    user.updated_at = utc_now()
    _audit(
        session,
        actor,
        "user.roles_changed",
        "user",
        user.id,
        before=before,
        after=[r.name for r in roles],
    )
    session.flush()
    return user


def reset_password(
    session: Session, actor: Actor | None, user_id: int, new_password: str
) -> tuple[User, int]:
    """Set a new password (admin or CLI) and end every session of the user."""
    user = get_user(session, user_id)
    if actor is not None and user.is_superuser and not actor.user.is_superuser:
        raise Forbidden("only a superuser can reset a superuser's password")
    now = utc_now()
    user.hashed_password = security.hash_password(new_password)
    user.password_changed_at = now
    user.updated_at = now
    ended = service.revoke_user_sessions(session, user.id, "password_reset", now=now)
    audit.record(
        session,
        "user.password_reset",
        actor=actor.user if actor else None,
        actor_label=None if actor else "cli",
        resource_type="user",
        resource_id=user.id,
        details={"sessions_revoked": ended},
        client=actor.client if actor else None,
    )
    session.flush()
    return user, ended


def delete_user(session: Session, actor: Actor, user_id: int) -> None:
    """Delete a user with their sessions and role links; refused while other records point
    at them (deactivate instead, which keeps history intact)."""
    user = get_user(session, user_id)
    if user.id == actor.user.id:
        raise Forbidden("you cannot delete yourself")
    if user.is_superuser and not actor.user.is_superuser:
        raise Forbidden("only a superuser can delete a superuser")
    username = user.username
    try:
        with session.begin_nested():
            session.execute(delete(UserRole).where(UserRole.user_id == user.id))
            session.execute(delete(UserSession).where(UserSession.user_id == user.id))
            session.delete(user)
            session.flush()
    except IntegrityError:
        raise Conflict("the user is referenced by other records; deactivate instead") from None
    _audit(session, actor, "user.deleted", "user", user_id, username=username)
    session.flush()


# --- roles -------------------------------------------------------------------------------


def _check_permissions(names: list[str]) -> list[str]:
    known = {p.value for p in Permission}
    unknown = sorted(set(names) - known)
    if unknown:
        raise Unprocessable(
            f"unknown permissions: {', '.join(unknown)}", loc=("body", "permissions"), input=unknown
        )
    return sorted(set(names))


def get_role(session: Session, role_id: int) -> Role:
    role = session.get(Role, role_id)
    if role is None:
        raise RoleNotFound(f"role {role_id} not found")
    return role


def list_roles(session: Session) -> list[RolePublic]:
    roles = list(session.scalars(select(Role).order_by(Role.name)))
    ids = [r.id for r in roles]
    permissions = Role.permissions_by_role(session, ids)
    counts = Role.user_counts(session, ids)
    return [
        RolePublic(
            **role.model_dump(include={"id", "name", "description", "is_system"}),
            permissions=permissions[role.id],
            user_count=counts.get(role.id, 0),
        )
        for role in roles
    ]


def role_public(session: Session, role: Role) -> RolePublic:
    return RolePublic(
        **role.model_dump(include={"id", "name", "description", "is_system"}),
        permissions=Role.permissions_by_role(session, [role.id])[role.id],
        user_count=Role.user_counts(session, [role.id]).get(role.id, 0),
    )


def create_role(session: Session, actor: Actor, data: RoleCreate) -> Role:
    permissions = _check_permissions(data.permissions)
    if Role.get_by_name(session, data.name) is not None:
        raise Conflict(f"role {data.name!r} already exists")
    role = Role(name=data.name, description=data.description)
    session.add(role)
    session.flush()
    for permission in permissions:
        session.add(RolePermission(role_id=role.id, permission=permission))
    _audit(session, actor, "role.created", "role", role.id, name=role.name, permissions=permissions)
    session.flush()
    return role


def update_role(session: Session, actor: Actor, role_id: int, data: RoleUpdate) -> Role:
    role = get_role(session, role_id)
    if data.description is not None:
        before = role.description
        role.description = data.description
        role.updated_at = utc_now()
        _audit(
            session, actor, "role.updated", "role", role.id, before=before, after=data.description
        )
    session.flush()
    return role


def set_role_permissions(session: Session, actor: Actor, role_id: int, names: list[str]) -> Role:
    """Replace a role's permissions; holders' next request already sees the new set."""
    role = get_role(session, role_id)
    permissions = _check_permissions(names)
    before = Role.permissions_by_role(session, [role.id])[role.id]
    session.execute(delete(RolePermission).where(RolePermission.role_id == role.id))
    for permission in permissions:
        session.add(RolePermission(role_id=role.id, permission=permission))
    role.updated_at = utc_now()
    _audit(
        session,
        actor,
        "role.permissions_changed",
        "role",
        role.id,
        name=role.name,
        added=sorted(set(permissions) - set(before)),
        removed=sorted(set(before) - set(permissions)),
    )
    session.flush()
    return role


def delete_role(session: Session, actor: Actor, role_id: int) -> None:
    role = get_role(session, role_id)
    if role.is_system:
        raise Conflict(f"role {role.name!r} is a default role and cannot be deleted")
    holders = Role.user_counts(session, [role.id]).get(role.id, 0)
    if holders:
        raise Conflict(f"role {role.name!r} is held by {holders} users; reassign them first")
    session.execute(delete(RolePermission).where(RolePermission.role_id == role.id))
    session.delete(role)
    _audit(session, actor, "role.deleted", "role", role_id, name=role.name)
    session.flush()


# --- sessions ----------------------------------------------------------------------------


def list_sessions(
    session: Session,
    *,
    user_id: int | None = None,
    active: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[UserSessionPublic], int, int, int]:
    limit, offset = _page_bounds(limit, offset)
    now = utc_now()
    live = (UserSession.revoked_at.is_(None)) & (UserSession.expires_at > now)
    query = select(UserSession, User.username).join(User, User.id == UserSession.user_id)
    if user_id is not None:
        query = query.where(UserSession.user_id == user_id)
    if active is True:
        query = query.where(live)
    elif active is False:
        query = query.where(~live)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(UserSession.created_at.desc(), UserSession.id).limit(limit).offset(offset)
    ).all()
    items = [
        UserSessionPublic(
            **row[0].model_dump(exclude={"refresh_token_hash", "rotation_count"}),
            username=row[1],
            active=row[0].is_active_at(now),
        )
        for row in rows
    ]
    return items, total, limit, offset


def session_public(session: Session, user_session: UserSession) -> UserSessionPublic:
    user = session.get(User, user_session.user_id)
    return UserSessionPublic(
        **user_session.model_dump(exclude={"refresh_token_hash", "rotation_count"}),
        username=user.username if user else None,
        active=user_session.is_active_at(utc_now()),
    )


def revoke_one_session(session: Session, actor: Actor, session_id: str) -> UserSession:
    user_session = session.get(UserSession, session_id)
    if user_session is None:
        raise SessionNotFound(f"session {session_id} not found")
    revoked = service.revoke_session(user_session, "admin_revoked")
    _audit(
        session,
        actor,
        "session.revoked",
        "session",
        session_id,
        user_id=user_session.user_id,
        was_active=revoked,
    )
    session.flush()
    return user_session


def revoke_all_sessions_of(session: Session, actor: Actor, user_id: int) -> int:
    user = get_user(session, user_id)
    ended = service.revoke_user_sessions(session, user.id, "admin_revoked")
    _audit(session, actor, "session.revoked_all", "user", user.id, sessions_revoked=ended)
    session.flush()
    return ended


# --- audit log ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    actor_user_id: int | None = None
    actor: str | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _audit_query(filters: AuditFilter) -> Any:
    query = select(AuditLog)
    if filters.actor_user_id is not None:
        query = query.where(AuditLog.actor_user_id == filters.actor_user_id)
    if filters.actor:
        query = query.where(func.lower(AuditLog.actor_username) == filters.actor.strip().lower())
    if filters.action:
        # "auth." matches every auth event; a full name matches exactly.
        if filters.action.endswith("."):
            query = query.where(AuditLog.action.startswith(filters.action, autoescape=True))
        else:
            query = query.where(AuditLog.action == filters.action)
    if filters.resource_type:
        query = query.where(AuditLog.resource_type == filters.resource_type)
    if filters.resource_id:
        query = query.where(AuditLog.resource_id == filters.resource_id)
    if filters.since:
        query = query.where(AuditLog.occurred_at >= filters.since)
    if filters.until:
        query = query.where(AuditLog.occurred_at < filters.until)
    return query


def list_audit(
    session: Session, filters: AuditFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[AuditLog], int, int, int]:
    limit, offset = _page_bounds(limit, offset)
    query = _audit_query(filters)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(AuditLog.occurred_at.desc(), AuditLog.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), total, limit, offset


def iter_audit(session: Session, filters: AuditFilter, *, batch: int = 1000):
    """Every matching row, oldest first, in keyset batches (constant memory for exports)."""
    last_id = 0
    while True:
        rows = list(
            session.scalars(
                _audit_query(filters)
                .where(AuditLog.id > last_id)
                .order_by(AuditLog.id)
                .limit(batch)
            )
        )
        yield from rows
        if len(rows) < batch:
            return
        last_id = rows[-1].id


MAX_EXPORT_ROWS = 100_000
CSV_COLUMNS = (
    "id",
    "occurred_at",
    "actor_user_id",
    "actor_username",
    "action",
    "resource_type",
    "resource_id",
    "details",
    "ip_address",
    "user_agent",
)


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = json.dumps(value, sort_keys=True, default=str) if isinstance(value, dict) else str(value)
    # A cell opening with = + - @ (or a tab/CR) runs as a formula in spreadsheets: neutralize it,
    # since usernames and user agents in the trail are attacker-controlled (CSV injection).
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def export_audit_csv(session: Session, filters: AuditFilter) -> str:
    """The matching rows as CSV, oldest first; refuses exports beyond `MAX_EXPORT_ROWS`."""
    total = session.scalar(select(func.count()).select_from(_audit_query(filters).subquery()))
    if (total or 0) > MAX_EXPORT_ROWS:
        raise Unprocessable(
            f"{total} rows match; narrow the time range to at most {MAX_EXPORT_ROWS} rows",
            loc=("query", "since"),
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in iter_audit(session, filters):
        writer.writerow([_csv_cell(getattr(row, column)) for column in CSV_COLUMNS])
    return buffer.getvalue()


def record_export(session: Session, actor: Actor, filters: AuditFilter) -> None:
    """Exports are themselves audited: who pulled the trail, with which filters."""
    _audit(
        session,
        actor,
        "audit.exported",
        "audit_log",
        None,
        filters={
            k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in vars(filters).items()
            if v is not None
        },
    )
    session.flush()
