"""The permission catalogue (`/admin/permissions`), read-only: permissions are defined in code."""

from __future__ import annotations

from fastapi import APIRouter

from models.user import PermissionEntry, PermissionPublic
from services.deps import AdminRoles, SessionDep

router = APIRouter(prefix="/admin/permissions", tags=["admin"])


@router.get("")
def list_permissions(session: SessionDep, _: AdminRoles) -> list[PermissionPublic]:
    """Every permission a role can be given."""
    return [
        PermissionPublic(
            name=entry.name,
            resource=entry.name.partition(":")[0],
            action=entry.name.partition(":")[2],
            description=entry.description,
        )
        for entry in PermissionEntry.all(session)
    ]
