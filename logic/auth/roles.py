"""Seed the permission catalogue and the default roles; idempotent on every start.

A default role gets its full permission set when it is created. Later starts grant only
permissions that are new to the catalogue, so a new `Permission` member reaches the roles that
list it while a permission an admin removed from a default role stays removed.
"""

from __future__ import annotations

from sqlalchemy import select, text
from sqlmodel import Session

from logic.auth.permissions import DEFAULT_ROLES, Permission
from models.user import PermissionEntry, Role, RolePermission

ROLE_DESCRIPTIONS = {
    "admin": "Everything, including users, roles, sessions and the audit log.",
    "dispatcher": "Runs the board: trips, drivers, alerts and calls.",
    "safety_manager": "Safety events, alert rules, call campaigns and reports.",
    "viewer": "Read-only view of the fleet.",
}
_SEED_LOCK_KEY = 0x46_48_52_4F  # any constant; serializes seeding when instances start together


def describe_permission(permission: str) -> str:
    resource, _, action = permission.partition(":")
    return f"{action} {resource.replace('_', ' ')}"


def seed_default_roles(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SEED_LOCK_KEY})
    existing = set(session.scalars(select(PermissionEntry.name)))
    new_permissions = {p for p in Permission if p.value not in existing}
    for permission in sorted(new_permissions):
        session.add(
            PermissionEntry(name=permission.value, description=describe_permission(permission))
        )
    session.flush()
    for name, permissions in DEFAULT_ROLES.items():
        role = Role.get_by_name(session, name)
        if role is None:
            role = Role(name=name, description=ROLE_DESCRIPTIONS.get(name, ""), is_system=True)
            session.add(role)
            session.flush()
            to_grant = set(permissions)
        else:
            to_grant = set(permissions) & new_permissions
        granted = set(
            session.scalars(
                select(RolePermission.permission).where(RolePermission.role_id == role.id)
            )
        )
        for permission in sorted(to_grant - granted):
            session.add(RolePermission(role_id=role.id, permission=permission.value))
    session.flush()
