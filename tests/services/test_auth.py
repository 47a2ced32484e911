"""`/auth`: the OAuth2 password flow, refresh, logout, `/auth/me` and password change over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import bcrypt
from sqlalchemy import func, select

from models.audit_log import AuditLog
from models.user import User
from models.user_session import RateLimitBucket
from tests.factories_auth import DEFAULT_PASSWORD, bearer, login_tokens, make_user


def test_login_returns_access_and_refresh_tokens(client, session):
    make_user(session, username="dispatch1", email="d1@example.com", roles=["dispatcher"])
    tokens = login_tokens(client, "d1@example.com")
    assert tokens["token_type"] == "bearer"
    assert tokens["refresh_token"] and tokens["access_token"].count(".") == 2
    assert 0 < tokens["expires_in"] <= 1440 * 60
    me = client.get("/auth/me", headers=bearer(tokens))
    assert me.status_code == 200
    body = me.json()
    assert body["username"] == "dispatch1"
    assert body["roles"] == ["dispatcher"]
    assert "trips:write" in body["permissions"] and "admin:users" not in body["permissions"]
    assert "hashed_password" not in body


def test_unknown_user_and_wrong_password_get_identical_responses(client, session):
    make_user(session, username="known-user")
    unknown = client.post("/auth/token", data={"username": "ghost", "password": "x" * 10})
    wrong = client.post("/auth/token", data={"username": "known-user", "password": "x" * 10})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()
    assert unknown.headers["www-authenticate"] == wrong.headers["www-authenticate"] == "Bearer"


def test_failed_login_bookkeeping_survives_the_refused_request(client, session):
    user = make_user(session, username="counted")
    for _ in range(5):
        response = client.post("/auth/token", data={"username": "counted", "password": "nope1234"})
        assert response.status_code == 401
    session.expire_all()
    user = session.get(User, user.id)
    assert user.failed_login_count == 5 and user.locked_until is not None
    failures = session.scalar(
        select(func.count()).where(
            AuditLog.action == "auth.login_failed", AuditLog.actor_user_id == user.id
        )
    )
    assert failures == 5
    # Locked: the right password is refused too, and told for how long.
    locked = client.post("/auth/token", data={"username": "counted", "password": DEFAULT_PASSWORD})
    assert locked.status_code == 401
    body = locked.json()
    assert body["error"] == "account_locked" and "try again in 1 min" in body["detail"]
    assert 0 < body["locked_seconds"] <= 60 and locked.headers["retry-after"].isdigit()
    assert locked.headers["www-authenticate"] == "Bearer"
    # A wrong password during the lock reads like any other failure.
    wrong = client.post("/auth/token", data={"username": "counted", "password": "nope1234"})
    ghost = client.post("/auth/token", data={"username": "ghost-user", "password": "nope1234"})
    assert wrong.status_code == ghost.status_code == 401 and wrong.json() == ghost.json()


def test_login_rate_limit_per_ip_answers_429(client, session, monkeypatch):
    limit = 20  # LOGIN_RATE_LIMIT_PER_MINUTE default
    # The window is fixed by the clock: pin it, or a minute boundary mid-test resets the count.
    pinned = datetime(2026, 12, 4, 12, 0, 5, tzinfo=UTC)
    monkeypatch.setattr("logic.auth.service.utc_now", lambda: pinned)
    statuses = [
        client.post(
            "/auth/token", data={"username": f"nobody{i}", "password": "whatever1"}
        ).status_code
        for i in range(limit + 1)
    ]
    assert statuses[:limit] == [401] * limit
    assert statuses[limit] == 429
    refused = client.post("/auth/token", data={"username": "nobody", "password": "whatever1"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"] == "too_many_requests"
    assert session.scalar(select(func.max(RateLimitBucket.count))) == limit + 2


def test_a_100_character_password_and_legacy_bcrypt_log_in(client, session):
    long_password = "Z" * 100
    make_user(session, username="longpass", password=long_password)
    login_tokens(client, "longpass", long_password)
    assert (
        client.post("/auth/token", data={"username": "longpass", "password": "Z" * 72}).status_code
        == 401
    )
    legacy = bcrypt.hashpw(b"legacy password", bcrypt.gensalt(rounds=4)).decode()
    user = make_user(session, username="legacy", hashed_password=legacy)
    login_tokens(client, "legacy", "legacy password")
    session.expire_all()
    assert session.get(User, user.id).hashed_password.startswith("$argon2id$")


def test_refresh_rotation_and_reuse_detection(client, session):
    make_user(session, username="rotator")
    first = login_tokens(client, "rotator")
    second = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get("/auth/me", headers=bearer(second)).status_code == 200
    replay = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    # The reuse revoked the session: the latest tokens are dead too.
    assert client.get("/auth/me", headers=bearer(second)).status_code == 401
    assert (
        client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]}).status_code
        == 401
    )
    reuse = session.scalar(
        select(func.count()).where(AuditLog.action == "auth.refresh_reuse_detected")
    )
    assert reuse == 1


def test_refresh_rejects_extra_fields_and_garbage(client):
    assert (
        client.post("/auth/refresh", json={"refresh_token": "x", "user_id": 1}).status_code == 422
    )
    assert client.post("/auth/refresh", json={"refresh_token": "garbage"}).status_code == 401


def test_logout_kills_the_access_token_immediately(client, session):
    make_user(session, username="leaver")
    tokens = login_tokens(client, "leaver")
    other = login_tokens(client, "leaver")
    assert client.post("/auth/logout", headers=bearer(tokens)).status_code == 204
    assert client.get("/auth/me", headers=bearer(tokens)).status_code == 401
    assert (
        client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code
        == 401
    )
    assert client.get("/auth/me", headers=bearer(other)).status_code == 200


def test_logout_all_ends_every_session(client, session):
    make_user(session, username="everywhere")
    sessions = [login_tokens(client, "everywhere") for _ in range(3)]
    response = client.post("/auth/logout-all", headers=bearer(sessions[0]))
    assert response.json() == {"sessions_revoked": 3}
    for tokens in sessions:
        assert client.get("/auth/me", headers=bearer(tokens)).status_code == 401


def test_change_password_keeps_this_session_and_ends_the_others(client, session):
    make_user(session, username="changer")
    here, there = login_tokens(client, "changer"), login_tokens(client, "changer")
    wrong = client.post(
        "/auth/change-password",
        headers=bearer(here),
        json={"current_password": "not my password", "new_password": "fresh password 1"},
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "incorrect_password"
    short = client.post(
        "/auth/change-password",
        headers=bearer(here),
        json={"current_password": DEFAULT_PASSWORD, "new_password": "short"},
    )
    assert short.status_code == 422
    ok = client.post(
        "/auth/change-password",
        headers=bearer(here),
        json={"current_password": DEFAULT_PASSWORD, "new_password": "fresh password 1"},
    )
    assert ok.json() == {"sessions_revoked": 1}
    assert client.get("/auth/me", headers=bearer(here)).status_code == 200
    assert client.get("/auth/me", headers=bearer(there)).status_code == 401
    login_tokens(client, "changer", "fresh password 1")


def test_auth_events_are_audited_with_ip_and_user_agent(client, session):
    user = make_user(session, username="audited")
    client.post("/auth/token", data={"username": "audited", "password": "wrong-pass"})
    tokens = login_tokens(client, "audited")
    client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    client.post("/auth/logout", headers=bearer(tokens))
    rows = list(
        session.scalars(
            select(AuditLog).where(AuditLog.actor_user_id == user.id).order_by(AuditLog.id)
        )
    )
    assert [r.action for r in rows] == [
        "auth.login_failed",
        "auth.login_succeeded",
        "auth.token_refreshed",
        "auth.logout",
    ]
    assert rows[0].details["reason"] == "bad_password"
    assert all(r.ip_address == "testclient" and r.user_agent == "testclient" for r in rows)


def test_a_huge_password_is_refused_quickly(client, session):
    make_user(session, username="huge")
    response = client.post("/auth/token", data={"username": "huge", "password": "h" * 200_000})
    assert response.status_code == 401


def test_change_password_cannot_be_used_to_guess_past_a_lockout(client, session):
    """A stolen access token must not allow unlimited guessing of the current password."""
    user = make_user(session, username="guessed")
    tokens = login_tokens(client, "guessed")

    def attempt(current: str):
        return client.post(
            "/auth/change-password",
            headers=bearer(tokens),
            json={"current_password": current, "new_password": "brand new password"},
        )

    for _ in range(5):
        assert attempt("a wrong guess").status_code == 400
    session.refresh(user)
    assert user.locked_until is not None
    # Locked: even the right password gets the same refusal, and nothing is changed.
    right = attempt(DEFAULT_PASSWORD)
    assert right.status_code == 400 and right.json()["error"] == "incorrect_password"
    session.refresh(user)
    assert user.failed_login_count == 5  # guesses during the lock are not even counted
    login_refused = client.post(
        "/auth/token", data={"username": "guessed", "password": "brand new password"}
    )
    assert login_refused.status_code == 401


def test_unknown_login_names_are_audited_as_digests(client, session):
    """A password typed into the username field must not land in the audit log."""
    client.post("/auth/token", data={"username": "MySecretPassw0rd!", "password": "whatever1"})
    row = session.scalars(
        select(AuditLog).where(AuditLog.action == "auth.login_failed").order_by(AuditLog.id.desc())
    ).first()
    assert row is not None
    assert "MySecretPassw0rd!" not in str(row.details)
    assert len(row.details["login_sha256"]) == 16
