"""Login, lockout, rate limit, refresh rotation, logout and password changes (logic level)."""

from __future__ import annotations

import time
from datetime import timedelta

import bcrypt
import pytest
from sqlalchemy import select

from helpers.errors import TooManyRequests, Unauthorized
from helpers.time_utils import utc_now
from logic.auth import service
from logic.auth.audit import ClientInfo
from models.audit_log import AuditLog
from models.user import User
from models.user_session import RateLimitBucket, UserSession
from tests.factories_auth import DEFAULT_PASSWORD, make_user

CLIENT = ClientInfo(ip="203.0.113.7", user_agent="pytest")


def _actions(session, user_id=None) -> list[str]:
    query = select(AuditLog.action).order_by(AuditLog.id)
    if user_id is not None:
        query = query.where(AuditLog.actor_user_id == user_id)
    return list(session.scalars(query))


def _refused(session, login, password, client=CLIENT, **kwargs) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        service.login(session, login, password, client, **kwargs)
    return caught.value


def test_login_by_username_or_email_in_any_case(session):
    user = make_user(session, username="Dana.Disp", email="Dana@Example.com")
    for login in ("Dana.Disp", "dana.disp", "dana@example.com", " DANA@EXAMPLE.COM "):
        pair = service.login(session, login, DEFAULT_PASSWORD, CLIENT)
        principal = service.authenticate_access_token(session, pair.access_token)
        assert principal.user.id == user.id
    assert session.get(User, user.id).last_login_at is not None
    assert _actions(session, user.id).count("auth.login_succeeded") == 4


def test_unknown_user_and_wrong_password_fail_identically(session):
    make_user(session, username="known")
    unknown = _refused(session, "nobody", "whatever-password")
    wrong = _refused(session, "known", "whatever-password")
    assert (unknown.detail, unknown.headers, unknown.code) == (
        wrong.detail,
        wrong.headers,
        wrong.code,
    )


def test_unknown_user_still_pays_for_a_hash_verify(session):
    make_user(session, username="timed")

    def best_of_three(login: str) -> float:
        timings = []
        for _ in range(3):
            # CPU time of this process: the hash verify is nearly all of it, and other load on
            # the machine does not count.
            started = time.process_time()
            _refused(session, login, "not the password", ClientInfo(ip=f"198.51.100.{_}"))
            timings.append(time.process_time() - started)
        return min(timings)

    unknown, wrong = best_of_three("no-such-user"), best_of_three("timed")
    # Without the dummy verify the unknown-user path would skip a whole argon2 verify (~20 ms
    # of CPU) and cost a small fraction of the wrong-password path.
    assert unknown > wrong * 0.6


def test_failed_logins_lock_the_account_with_a_growing_period(session):
    user = make_user(session, username="locky")
    now = utc_now()
    for _ in range(service.LOCKOUT_THRESHOLD):
        _refused(session, "locky", "bad guess!", now=now)
    session.refresh(user)
    assert user.locked_until == now + service.LOCKOUT_BASE
    # The right password is refused while locked, and only it learns so (and for how long).
    locked = _refused(session, "locky", DEFAULT_PASSWORD, now=now + timedelta(seconds=30))
    assert isinstance(locked, service.AccountLocked) and locked.code == "account_locked"
    assert locked.extra == {"locked_seconds": 30} and "try again in 1 min" in locked.detail
    session.refresh(user)
    assert user.failed_login_count == service.LOCKOUT_THRESHOLD  # the right password is no failure
    later = now + service.LOCKOUT_BASE + timedelta(seconds=1)
    for _ in range(service.LOCKOUT_THRESHOLD):
        _refused(session, "locky", "bad guess!", now=later)
    session.refresh(user)
    assert user.locked_until == later + 2 * service.LOCKOUT_BASE
    actions = _actions(session, user.id)
    assert actions.count("auth.lockout") == 2
    assert actions.count("auth.login_failed") == 2 * service.LOCKOUT_THRESHOLD + 1


def test_a_wrong_password_during_a_lock_is_not_told_about_the_lock(session):
    user = make_user(session, username="quiet")
    now = utc_now()
    for _ in range(service.LOCKOUT_THRESHOLD):
        _refused(session, "quiet", "bad guess!", now=now)
    during = now + timedelta(seconds=10)
    wrong = _refused(session, "quiet", "another guess", now=during)
    unknown = _refused(session, "nobody-at-all", "another guess", now=during)
    assert type(wrong) is type(unknown) is Unauthorized
    assert (wrong.code, wrong.detail, wrong.extra) == (unknown.code, unknown.detail, unknown.extra)
    # Checked guesses during a lock come out of the next round: one short of the threshold,
    # nothing more is checked, not even the right password, until the lock ends.
    for _ in range(service.LOCKOUT_THRESHOLD):
        _refused(session, "quiet", "bad guess!", now=during)
    session.refresh(user)
    assert user.failed_login_count == 2 * service.LOCKOUT_THRESHOLD - 1
    unchecked = _refused(session, "quiet", DEFAULT_PASSWORD, now=during)
    assert type(unchecked) is Unauthorized
    after = user.locked_until + timedelta(seconds=1)
    _refused(session, "quiet", "bad guess!", now=after)
    session.refresh(user)
    assert user.locked_until == after + 2 * service.LOCKOUT_BASE


def test_a_disabled_locked_account_is_not_told_about_the_lock(session):
    user = make_user(session, username="disabled-locked", active=False)
    user.locked_until = utc_now() + timedelta(minutes=5)
    session.flush()
    refused = _refused(session, "disabled-locked", DEFAULT_PASSWORD)
    assert type(refused) is Unauthorized and refused.detail == service.INVALID_CREDENTIALS


def test_guessing_through_locks_stays_far_under_100_per_hour(session, monkeypatch):
    # What is counted matters here, not the hashing: a cheap check keeps 720 logins fast.
    monkeypatch.setattr(service.security, "verify_dummy_password", lambda password: None)
    monkeypatch.setattr(service.security, "verify_password", lambda password, hashed: (False, None))
    user = make_user(session, username="hammered")
    start = moment = utc_now()
    attempt = 0
    while moment < start + timedelta(hours=1):  # a guess every 5 s, locked or not
        attempt += 1
        ip = ClientInfo(ip=f"10.1.{attempt // 250}.{attempt % 250}")
        _refused(session, "hammered", f"guess {attempt}", ip, now=moment)
        moment += timedelta(seconds=5)
    session.refresh(user)
    assert 0 < user.failed_login_count <= 40


def test_success_after_the_lock_expires_resets_the_counters(session):
    user = make_user(session, username="patient")
    now = utc_now()
    for _ in range(service.LOCKOUT_THRESHOLD):
        _refused(session, "patient", "bad guess!", now=now)
    service.login(session, "patient", DEFAULT_PASSWORD, CLIENT, now=now + timedelta(minutes=2))
    session.refresh(user)
    assert (user.failed_login_count, user.lockout_count, user.locked_until) == (0, 0, None)


def test_an_attacker_gets_far_fewer_than_100_guesses_per_hour(session):
    user = make_user(session, username="target")
    start = utc_now()
    moment = start
    attempt = 0
    while moment < start + timedelta(hours=1):
        attempt += 1
        ip = ClientInfo(ip=f"10.0.{attempt // 250}.{attempt % 250}")  # a botnet: no IP limit
        _refused(session, "target", f"guess {attempt}", ip, now=moment)
        session.refresh(user)
        locked = user.locked_until is not None and user.locked_until > moment
        moment = user.locked_until if locked else moment + timedelta(seconds=1)
    session.refresh(user)
    assert 0 < user.failed_login_count <= 100


def test_inactive_user_cannot_log_in(session):
    make_user(session, username="gone", active=False)
    error = _refused(session, "gone", DEFAULT_PASSWORD)
    assert error.detail == service.INVALID_CREDENTIALS


def test_legacy_bcrypt_hash_is_upgraded_on_login(session):
    legacy = bcrypt.hashpw(DEFAULT_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    user = make_user(session, username="oldtimer", hashed_password=legacy)
    service.login(session, "oldtimer", DEFAULT_PASSWORD, CLIENT)
    session.refresh(user)
    assert user.hashed_password.startswith("$argon2id$")
    service.login(session, "oldtimer", DEFAULT_PASSWORD, CLIENT)  # the new hash works


def test_rate_limit_counts_per_ip_in_the_database(session):
    make_user(session, username="busy")
    limit = 3
    settings = service.get_settings().model_copy(update={"LOGIN_RATE_LIMIT_PER_MINUTE": limit})
    now = utc_now().replace(second=5)
    for _ in range(limit):
        _refused(session, "busy", "bad guess!", settings=settings, now=now)
    with pytest.raises(TooManyRequests) as caught:
        service.login(session, "busy", DEFAULT_PASSWORD, CLIENT, settings=settings, now=now)
    assert caught.value.headers["Retry-After"] == "55"
    # Another address is not affected, and the next window starts afresh.
    other = ClientInfo(ip="192.0.2.99")
    service.login(session, "busy", DEFAULT_PASSWORD, other, settings=settings, now=now)
    service.login(
        session, "busy", DEFAULT_PASSWORD, CLIENT, settings=settings, now=now + timedelta(minutes=1)
    )
    buckets = session.scalars(
        select(RateLimitBucket).where(RateLimitBucket.key.contains(CLIENT.ip))
    )
    assert sorted(b.count for b in buckets) == [1]  # the stale window was purged
    assert _actions(session).count("auth.login_rate_limited") == 1


def test_refresh_rotates_and_reuse_revokes_the_session(session):
    user = make_user(session)
    first = service.issue_session(session, user, CLIENT)
    second = service.refresh(session, first.refresh_token, CLIENT)
    assert second.refresh_token != first.refresh_token
    assert second.session_id == first.session_id
    third = service.refresh(session, second.refresh_token, CLIENT)
    service.authenticate_access_token(session, third.access_token)
    # A thief replays the first token: the whole session dies, including the newest tokens.
    with pytest.raises(Unauthorized):
        service.refresh(session, first.refresh_token, CLIENT)
    revoked = session.get(UserSession, first.session_id)
    assert revoked.revoked_reason == "refresh_token_reuse"
    with pytest.raises(Unauthorized):
        service.refresh(session, third.refresh_token, CLIENT)
    with pytest.raises(Unauthorized):
        service.authenticate_access_token(session, third.access_token)
    actions = _actions(session, user.id)
    assert actions.count("auth.token_refreshed") == 2
    assert "auth.refresh_reuse_detected" in actions


def test_unknown_refresh_token_and_expired_session_are_refused(session):
    user = make_user(session)
    with pytest.raises(Unauthorized):
        service.refresh(session, "not-a-token", CLIENT)
    pair = service.issue_session(session, user, CLIENT, now=utc_now() - timedelta(days=30))
    with pytest.raises(Unauthorized):
        service.refresh(session, pair.refresh_token, CLIENT)


def test_logout_and_logout_all(session):
    user = make_user(session)
    one, two, three = (service.issue_session(session, user, CLIENT) for _ in range(3))
    principal = service.authenticate_access_token(session, one.access_token)
    service.logout(session, principal, CLIENT)
    with pytest.raises(Unauthorized):
        service.authenticate_access_token(session, one.access_token)
    with pytest.raises(Unauthorized):
        service.refresh(session, one.refresh_token, CLIENT)
    principal = service.authenticate_access_token(session, two.access_token)
    assert service.logout_all(session, principal, CLIENT) == 2
    for pair in (two, three):
        with pytest.raises(Unauthorized):
            service.authenticate_access_token(session, pair.access_token)
    assert {"auth.logout", "auth.logout_all"} <= set(_actions(session, user.id))


def test_password_change_ends_other_sessions_only(session):
    user = make_user(session)
    current = service.issue_session(session, user, CLIENT)
    other = service.issue_session(session, user, CLIENT)
    principal = service.authenticate_access_token(session, current.access_token)
    with pytest.raises(service.IncorrectPassword):
        service.change_password(session, principal, "not it at all", "a brand new secret")
    assert session.get(User, user.id).failed_login_count == 1
    ended = service.change_password(session, principal, DEFAULT_PASSWORD, "a brand new secret")
    assert ended == 1
    service.authenticate_access_token(session, current.access_token)
    with pytest.raises(Unauthorized):
        service.authenticate_access_token(session, other.access_token)
    _refused(session, user.username, DEFAULT_PASSWORD)
    service.login(session, user.username, "a brand new secret", CLIENT)
    assert "auth.password_changed" in _actions(session, user.id)


def test_token_check_is_one_query(session, query_counter):
    user = make_user(session, roles=["dispatcher", "viewer"])
    pair = service.issue_session(session, user, CLIENT)
    session.flush()
    query_counter.reset()
    principal = service.authenticate_access_token(session, pair.access_token)
    assert query_counter.count == 1
    assert principal.roles == {"dispatcher", "viewer"}
    assert "trips:write" in principal.permissions
