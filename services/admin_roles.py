"""Admin role management (`/admin/roles`): CRUD and permission assignment."""

from __future__ import annotations

from fastapi import APIRouter

from logic.auth import users as logic
from logic.auth.users import Actor
from models.user import RoleCreate, RolePermissionsUpdate, RolePublic, RoleUpdate
from services.deps import AdminRoles, ClientDep, SessionDep
from services.openapi import error_responses

router = APIRouter(prefix="/admin/roles", tags=["admin"])


@router.get("")
def list_roles(session: SessionDep, _: AdminRoles) -> list[RolePublic]:
    """Every role with its permissions and how many users hold it."""
    return logic.list_roles(session)


@router.post("", status_code=201, responses=error_responses(409))
def create_role(
    body: RoleCreate, session: SessionDep, admin: AdminRoles, client: ClientDep
) -> RolePublic:
    """Create a role with a set of permissions."""
    role = logic.create_role(session, Actor(admin, client), body)
    return logic.role_public(session, role)


@router.get("/{role_id}")
def get_role(role_id: int, session: SessionDep, _: AdminRoles) -> RolePublic:
    """One role with its permissions."""
    return logic.role_public(session, logic.get_role(session, role_id))


@router.patch("/{role_id}")
def update_role(
    role_id: int, body: RoleUpdate, session: SessionDep, admin: AdminRoles, client: ClientDep
) -> RolePublic:
    """Change a role's description."""
    role = logic.update_role(session, Actor(admin, client), role_id, body)
    return logic.role_public(session, role)


@router.put("/{role_id}/permissions")
def set_role_permissions(
    role_id: int,
    body: RolePermissionsUpdate,
    session: SessionDep,
    admin: AdminRoles,
    client: ClientDep,
) -> RolePublic:
    """Replace a role's permissions; holders see the change on their next request."""
    role = logic.set_role_permissions(session, Actor(admin, client), role_id, body.permissions)
    return logic.role_public(session, role)


@router.delete("/{role_id}", status_code=204, responses=error_responses(409))
def delete_role(role_id: int, session: SessionDep, admin: AdminRoles, client: ClientDep) -> None:
    """Delete a custom role nobody holds (default roles stay)."""
    logic.delete_role(session, Actor(admin, client), role_id)
