"""`/admin/roles` and `/admin/permissions`: role CRUD, permission assignment, the catalogue."""

from __future__ import annotations

from sqlalchemy import select

from logic.auth.permissions import DEFAULT_ROLES, Permission
from logic.auth.roles import seed_default_roles
from models.audit_log import AuditLog
from models.user import Role, RolePermission
from tests.factories_auth import bearer_for, make_user


def _roles_admin(session):
    user = make_user(session, roles=["admin"])
    headers = bearer_for(session, user)
    session.commit()
    return user, headers


def test_default_roles_are_seeded_with_their_permissions(client, session):
    _, admin = _roles_admin(session)
    roles = {r["name"]: r for r in client.get("/admin/roles", headers=admin).json()}
    assert set(DEFAULT_ROLES) <= set(roles)
    for name, permissions in DEFAULT_ROLES.items():
        assert set(roles[name]["permissions"]) == {p.value for p in permissions}
        assert roles[name]["is_system"] is True
    assert roles["admin"]["user_count"] >= 1


def test_seeding_is_idempotent_and_keeps_admin_removals(session):
    dispatcher = Role.get_by_name(session, "dispatcher")
    session.execute(
        RolePermission.__table__.delete().where(
            RolePermission.role_id == dispatcher.id,
            RolePermission.permission == Permission.TRIPS_WRITE.value,
        )
    )
    seed_default_roles(session)
    seed_default_roles(session)
    granted = set(
        session.scalars(
            select(RolePermission.permission).where(RolePermission.role_id == dispatcher.id)
        )
    )
    assert Permission.TRIPS_WRITE.value not in granted
    assert granted == {p.value for p in DEFAULT_ROLES["dispatcher"]} - {
        Permission.TRIPS_WRITE.value
    }
    assert len(session.scalars(select(Role).where(Role.name == "dispatcher")).all()) == 1


def test_permission_catalogue_lists_every_permission(client, auth_headers):
    catalogue = client.get("/admin/permissions", headers=auth_headers(role="admin")).json()
    assert {p["name"] for p in catalogue} == {p.value for p in Permission}
    trips = next(p for p in catalogue if p["name"] == "trips:read")
    assert (trips["resource"], trips["action"]) == ("trips", "read")


def test_role_lifecycle_applies_to_holders_immediately(client, session):
    actor, admin = _roles_admin(session)
    created = client.post(
        "/admin/roles",
        headers=admin,
        json={"name": "night_desk", "description": "overnight", "permissions": ["trips:read"]},
    )
    assert created.status_code == 201, created.text
    role = created.json()
    holder = make_user(session)
    session.commit()
    holder_headers = bearer_for(session, holder)
    session.commit()
    client.put(
        f"/users/{holder.id}/roles",
        headers=bearer_for(session, make_user(session, superuser=True)),
        json={"roles": ["night_desk"]},
    )
    assert client.get("/auth/me", headers=holder_headers).json()["permissions"] == ["trips:read"]
    updated = client.put(
        f"/admin/roles/{role['id']}/permissions",
        headers=admin,
        json={"permissions": ["alerts:read", "trips:read"]},
    )
    assert updated.json()["permissions"] == ["alerts:read", "trips:read"]
    assert client.get("/auth/me", headers=holder_headers).json()["permissions"] == [
        "alerts:read",
        "trips:read",
    ]
    assert (
        client.patch(
            f"/admin/roles/{role['id']}", headers=admin, json={"description": "nights"}
        ).json()["description"]
        == "nights"
    )
    # Held roles cannot be deleted; once released they can.
    assert client.delete(f"/admin/roles/{role['id']}", headers=admin).status_code == 409
    client.put(f"/users/{holder.id}/roles", headers=admin, json={"roles": []})
    assert client.delete(f"/admin/roles/{role['id']}", headers=admin).status_code == 204
    assert client.get(f"/admin/roles/{role['id']}", headers=admin).status_code == 404
    actions = list(
        session.scalars(
            select(AuditLog.action).where(
                AuditLog.actor_user_id == actor.id, AuditLog.resource_type == "role"
            )
        )
    )
    assert actions == ["role.created", "role.permissions_changed", "role.updated", "role.deleted"]


def test_role_validation(client, session):
    _, admin = _roles_admin(session)
    unknown = client.post(
        "/admin/roles", headers=admin, json={"name": "x_role", "permissions": ["trips:fly"]}
    )
    assert unknown.status_code == 422 and "trips:fly" in unknown.json()["detail"]
    assert client.post("/admin/roles", headers=admin, json={"name": "Bad Name"}).status_code == 422
    assert client.post("/admin/roles", headers=admin, json={"name": "viewer"}).status_code == 409
    assert (
        client.post(
            "/admin/roles", headers=admin, json={"name": "ok_role", "is_system": True}
        ).status_code
        == 422
    )
    viewer = Role.get_by_name(session, "viewer")
    assert client.delete(f"/admin/roles/{viewer.id}", headers=admin).status_code == 409
