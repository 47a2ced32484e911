"""`/users`: admin user management, guarded against mass assignment and self-escalation."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from helpers.time_utils import utc_now
from models.audit_log import AuditLog
from models.user import User
from tests.factories_auth import bearer, bearer_for, login_tokens, make_user


def _admin(session, *, superuser=False):
    user = make_user(session, roles=["admin"], superuser=superuser)
    headers = bearer_for(session, user)
    session.commit()
    return user, headers


def _new_user(**overrides) -> dict:
    body = {
        "username": "dana",
        "email": "dana@example.com",
        "full_name": "Dana Dispatcher",
        "password": "dispatch me please",
        "roles": ["dispatcher"],
    }
    return body | overrides


def test_admin_creates_a_dispatcher_who_is_refused_admin_routes(client, session):
    _, admin = _admin(session)
    created = client.post("/users", headers=admin, json=_new_user())
    assert created.status_code == 201, created.text
    assert created.json()["roles"] == ["dispatcher"]
    assert "password" not in created.text and "hashed" not in created.text
    tokens = login_tokens(client, "dana", "dispatch me please")
    assert client.get("/auth/me", headers=bearer(tokens)).json()["roles"] == ["dispatcher"]
    refused = client.get("/users", headers=bearer(tokens))
    assert refused.status_code == 403
    assert refused.json() == {"error": "forbidden", "detail": "requires permission admin:users"}


def test_create_validates_and_forbids_extra_fields(client, session):
    _, admin = _admin(session)
    for bad in (
        _new_user(hashed_password="$argon2id$whatever"),
        _new_user(id=1),
        _new_user(password="short"),
        _new_user(email="not-an-email"),
        _new_user(username="x"),
        _new_user(roles=["no-such-role"]),
    ):
        assert client.post("/users", headers=admin, json=bad).status_code == 422, bad


def test_usernames_and_emails_are_unique_ignoring_case(client, session):
    _, admin = _admin(session)
    assert client.post("/users", headers=admin, json=_new_user()).status_code == 201
    again = client.post(
        "/users", headers=admin, json=_new_user(username="DANA", email="o@example.com")
    )
    assert again.status_code == 409
    same_mail = client.post(
        "/users", headers=admin, json=_new_user(username="dana2", email="DANA@example.COM")
    )
    assert same_mail.status_code == 409


def test_only_superusers_grant_superuser(client, session):
    _, admin = _admin(session)
    refused = client.post("/users", headers=admin, json=_new_user(is_superuser=True))
    assert refused.status_code == 403
    target = make_user(session)
    session.commit()
    assert (
        client.patch(f"/users/{target.id}", headers=admin, json={"is_superuser": True}).status_code
        == 403
    )
    _, root = _admin(session, superuser=True)
    assert client.post("/users", headers=root, json=_new_user(is_superuser=True)).status_code == 201
    assert client.patch(f"/users/{target.id}", headers=root, json={"is_superuser": True}).json()[
        "is_superuser"
    ]


def test_nobody_changes_their_own_privileges(client, session):
    me, headers = _admin(session, superuser=True)
    assert (
        client.patch(f"/users/{me.id}", headers=headers, json={"is_superuser": False}).status_code
        == 403
    )
    assert (
        client.put(f"/users/{me.id}/roles", headers=headers, json={"roles": ["viewer"]}).status_code
        == 403
    )
    assert client.post(f"/users/{me.id}/deactivate", headers=headers).status_code == 403
    assert client.delete(f"/users/{me.id}", headers=headers).status_code == 403
    # Updating own profile with extra fields is not a way around it either.
    assert (
        client.patch(f"/users/{me.id}", headers=headers, json={"roles": ["viewer"]}).status_code
        == 422
    )
    assert (
        client.patch(f"/users/{me.id}", headers=headers, json={"full_name": "Me"}).status_code
        == 200
    )


def test_list_paginates_and_searches(client, session):
    _, admin = _admin(session)
    for i in range(5):
        make_user(session, username=f"driver-desk-{i}", roles=["viewer"])
    make_user(session, username="someone-else", active=False)
    session.commit()
    page = client.get(
        "/users", headers=admin, params={"search": "DESK", "limit": 2, "offset": 2}
    ).json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 2
    assert [u["username"] for u in page["items"]] == ["driver-desk-2", "driver-desk-3"]
    assert all(u["roles"] == ["viewer"] for u in page["items"])
    inactive = client.get("/users", headers=admin, params={"active": False}).json()
    assert [u["username"] for u in inactive["items"]] == ["someone-else"]
    by_role = client.get("/users", headers=admin, params={"role": "viewer"}).json()
    assert by_role["total"] == 5
    assert client.get("/users", headers=admin, params={"limit": 500}).status_code == 422


def test_deactivate_ends_sessions_and_blocks_login(client, session):
    _, admin = _admin(session)
    user = make_user(session, username="leaving")
    session.commit()
    tokens = login_tokens(client, "leaving")
    response = client.post(f"/users/{user.id}/deactivate", headers=admin)
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert client.get("/auth/me", headers=bearer(tokens)).status_code == 401
    assert (
        client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code
        == 401
    )
    refused = client.post(
        "/auth/token", data={"username": "leaving", "password": "correct horse battery staple"}
    )
    assert refused.status_code == 401
    assert client.post(f"/users/{user.id}/activate", headers=admin).json()["is_active"] is True
    login_tokens(client, "leaving")


def test_unlock_lets_a_locked_out_user_back_in(client, session):
    _, admin = _admin(session)
    user = make_user(session, username="lockedout")
    user.failed_login_count, user.lockout_count = 10, 2
    user.locked_until = utc_now() + timedelta(minutes=30)
    session.commit()
    assert (
        client.post(
            "/auth/token",
            data={"username": "lockedout", "password": "correct horse battery staple"},
        ).status_code
        == 401
    )
    unlocked = client.post(f"/users/{user.id}/unlock", headers=admin).json()
    assert unlocked["locked_until"] is None and unlocked["failed_login_count"] == 0
    login_tokens(client, "lockedout")


def test_roles_replace_and_reset_password(client, session):
    _, admin = _admin(session)
    user = make_user(session, username="promoted", roles=["viewer"])
    session.commit()
    tokens = login_tokens(client, "promoted")
    roles = client.put(
        f"/users/{user.id}/roles", headers=admin, json={"roles": ["safety_manager", "viewer"]}
    )
    assert roles.json()["roles"] == ["safety_manager", "viewer"]
    # Permission changes apply on the very next request of an existing session.
    assert "campaigns:write" in client.get("/auth/me", headers=bearer(tokens)).json()["permissions"]
    reset = client.post(
        f"/users/{user.id}/reset-password", headers=admin, json={"new_password": "brand new pass"}
    )
    assert reset.status_code == 200
    assert client.get("/auth/me", headers=bearer(tokens)).status_code == 401
    login_tokens(client, "promoted", "brand new pass")


def test_delete_and_not_found(client, session):
    _, admin = _admin(session)
    user = make_user(session)
    session.commit()
    user_id = user.id
    login_tokens(client, user.username)
    assert client.delete(f"/users/{user_id}", headers=admin).status_code == 204
    session.expire_all()
    assert session.get(User, user_id) is None
    missing = client.get(f"/users/{user_id}", headers=admin)
    assert missing.status_code == 404 and missing.json()["error"] == "user_not_found"


def test_admin_mutations_are_audited(client, session):
    actor, admin = _admin(session)
    created = client.post("/users", headers=admin, json=_new_user()).json()
    client.patch(f"/users/{created['id']}", headers=admin, json={"full_name": "Dana D."})
    client.put(f"/users/{created['id']}/roles", headers=admin, json={"roles": ["viewer"]})
    client.post(f"/users/{created['id']}/deactivate", headers=admin)
    client.post(f"/users/{created['id']}/unlock", headers=admin)
    rows = list(
        session.scalars(
            select(AuditLog).where(AuditLog.actor_user_id == actor.id).order_by(AuditLog.id)
        )
    )
    assert [r.action for r in rows] == [
        "user.created",
        "user.updated",
        "user.roles_changed",
        "user.deactivated",
        "user.unlocked",
    ]
    assert all(r.resource_type == "user" and r.resource_id == str(created["id"]) for r in rows)
    assert rows[1].details == {
        "before": {"full_name": "Dana Dispatcher"},
        "after": {"full_name": "Dana D."},
    }
    assert rows[2].details == {"before": ["dispatcher"], "after": ["viewer"]}
