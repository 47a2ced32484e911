"""`/admin/sessions`: listing sessions and revoking one or all of a user's."""

from __future__ import annotations

from sqlalchemy import select

from models.audit_log import AuditLog
from tests.factories_auth import bearer, bearer_for, login_tokens, make_user


def test_list_filter_and_revoke(client, session):
    admin_user = make_user(session, roles=["admin"])
    admin = bearer_for(session, admin_user)
    user = make_user(session, username="roamer")
    session.commit()
    laptop, phone = login_tokens(client, "roamer"), login_tokens(client, "roamer")
    listed = client.get("/admin/sessions", headers=admin, params={"user_id": user.id}).json()
    assert listed["total"] == 2
    assert all(s["active"] and s["username"] == "roamer" for s in listed["items"])
    assert "refresh_token_hash" not in str(listed)
    phone_id = client.get("/auth/me", headers=bearer(phone)).json()["session_id"]
    revoked = client.post(f"/admin/sessions/{phone_id}/revoke", headers=admin)
    assert revoked.status_code == 200
    assert revoked.json()["active"] is False and revoked.json()["revoked_reason"] == "admin_revoked"
    assert client.get("/auth/me", headers=bearer(phone)).status_code == 401
    assert client.get("/auth/me", headers=bearer(laptop)).status_code == 200
    active = client.get(
        "/admin/sessions", headers=admin, params={"user_id": user.id, "active": True}
    ).json()
    assert [s["id"] for s in active["items"]] != [phone_id] and active["total"] == 1
    inactive = client.get(
        "/admin/sessions", headers=admin, params={"user_id": user.id, "active": False}
    ).json()
    assert [s["id"] for s in inactive["items"]] == [phone_id]
    everything = client.post(f"/admin/sessions/users/{user.id}/revoke", headers=admin)
    assert everything.json() == {"sessions_revoked": 1}
    assert client.get("/auth/me", headers=bearer(laptop)).status_code == 401
    assert client.post("/admin/sessions/nope/revoke", headers=admin).status_code == 404
    actions = list(
        session.scalars(select(AuditLog.action).where(AuditLog.actor_user_id == admin_user.id))
    )
    assert actions == ["session.revoked", "session.revoked_all"]


def test_requires_admin_sessions_permission(client, auth_headers):
    assert client.get("/admin/sessions", headers=auth_headers(role="dispatcher")).status_code == 403
    allowed = auth_headers(permissions=["admin:sessions"])
    assert client.get("/admin/sessions", headers=allowed).status_code == 200
