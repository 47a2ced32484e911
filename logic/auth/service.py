"""Login, token checks, refresh rotation, logout and password changes.

Refusals raise `Unauthorized`/`TooManyRequests` *after* flushing their bookkeeping (failure
counters, lockouts, rate-limit buckets, audit rows); the login routes use a session dependency
that commits that bookkeeping even though the request fails.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from config import Settings, get_settings
from helpers.errors import BadRequest, TooManyRequests, Unauthorized, Unprocessable
from helpers.time_utils import utc_now
from logic.auth import audit, security
from logic.auth.audit import ClientInfo
from models.user import PASSWORD_MAX_LENGTH, Role, RolePermission, User, UserRole
from models.user_session import RateLimitBucket, RotatedRefreshToken, UserSession

log = logging.getLogger(__name__)

# One message for every refused login, so a response never tells which part was wrong or
# whether the account exists.
INVALID_CREDENTIALS = "incorrect username or password, or the account is locked or disabled"
INVALID_TOKEN = "invalid or expired token"  # noqa: S105 (an error message)
LOCKOUT_THRESHOLD = 5
LOCKOUT_BASE = timedelta(minutes=1)
# Doubling stops at an hour: with 5 tries per lock that bounds guessing to ~5 per hour per
# account, far under the 100/hour ASVS ceiling, while the owner waits at most an hour
# (or asks an admin to unlock).
LOCKOUT_MAX = timedelta(hours=1)
RATE_LIMIT_WINDOW_SECONDS = 60


class AccountLocked(Unauthorized):
    """The right password for a locked account: how long to wait (never said to a wrong one)."""

    code = "account_locked"

    def __init__(self, remaining: timedelta) -> None:
        seconds = max(1, math.ceil(remaining.total_seconds()))
        minutes = math.ceil(seconds / 60)
        super().__init__(
            f"the account is locked after repeated failed logins; try again in {minutes} min "
            "(or ask an admin to unlock it)",
            locked_seconds=seconds,
        )
        self.headers["Retry-After"] = str(seconds)


class IncorrectPassword(BadRequest):
    """400, not 401: the caller's token is fine, so clients must not drop their session."""

    code = "incorrect_password"

    @classmethod
    def default_detail(cls) -> str:
        return "the current password is incorrect"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_at: datetime
    session_id: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth2 token type, not a secret)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the user, the live session and the permission names it holds."""

    user: User
    session: UserSession
    permissions: frozenset[str]
    roles: frozenset[str] = frozenset()

    def allows(self, permission: str) -> bool:
        return self.user.is_superuser or permission in self.permissions


# --- per-request token check -------------------------------------------------------------

# Built once: every authenticated request runs it, and building the statement cost a fifth of
# the check's CPU.
# Role and permission names hold no newline (role names match `RoleName`, permissions are
# `Permission` values), so one newline-joined string each keeps the answer to a single row.
_GRANT_SEPARATOR = "\n"
_ROLE_NAMES = (
    select(func.aggregate_strings(Role.name, _GRANT_SEPARATOR))
    .join(UserRole, UserRole.role_id == Role.id)
    .where(UserRole.user_id == User.id)
    .scalar_subquery()
)
_PERMISSION_NAMES = (
    select(func.aggregate_strings(RolePermission.permission, _GRANT_SEPARATOR))
    .join(UserRole, UserRole.role_id == RolePermission.role_id)
    .where(UserRole.user_id == User.id)
    .scalar_subquery()
)
_SESSION_WITH_GRANTS = (
    select(UserSession, User, _ROLE_NAMES, _PERMISSION_NAMES)
    .join(User, User.id == UserSession.user_id)
    .where(UserSession.id == bindparam("session_id"), UserSession.user_id == bindparam("user_id"))
)


def _names(joined: str | None) -> frozenset[str]:
    return frozenset(joined.split(_GRANT_SEPARATOR)) if joined else frozenset()


def authenticate_access_token(
    session: Session, token: str, *, now: datetime | None = None
) -> Principal:
    """Decode the JWT and confirm its session is live and its user active, in one query.

    One row: the session and its user joined on primary keys, with the user's role and
    permission names aggregated beside them, so the revocation check and the permission lookup
    cost a single indexed round trip.
    """
    try:
        claims = security.decode_access_token(token)
    except security.TokenError:
        raise Unauthorized(INVALID_TOKEN) from None
    now = now or utc_now()
    row = session.execute(
        _SESSION_WITH_GRANTS, {"session_id": claims.session_id, "user_id": claims.user_id}
    ).first()
    if row is None:
        raise Unauthorized(INVALID_TOKEN)
    user_session, user, roles, permissions = row
    if not user_session.is_active_at(now) or not user.is_active:
        raise Unauthorized(INVALID_TOKEN)
    return Principal(
        user=user, session=user_session, permissions=_names(permissions), roles=_names(roles)
    )


# --- sessions ----------------------------------------------------------------------------


def issue_session(
    session: Session,
    user: User,
    client: ClientInfo | None = None,
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> TokenPair:
    """Open a session for `user` and return its first access and refresh tokens."""
    settings = settings or get_settings()
    now = now or utc_now()
    client = client or ClientInfo()
    refresh_token = security.new_refresh_token()
    user_session = UserSession(
        id=security.new_session_id(),
        user_id=user.id,
        refresh_token_hash=security.hash_refresh_token(refresh_token),
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(days=settings.REFRESH_TOKEN_EXPIRE_DAYS),
        ip_address=client.ip and client.ip[:64],
        user_agent=client.user_agent and client.user_agent[:512],
    )
    session.add(user_session)
    session.flush()
    access_token, expires_at = security.create_access_token(
        user.id, user_session.id, settings, now=now
    )
    return TokenPair(access_token, refresh_token, expires_at, user_session.id)


def revoke_session(user_session: UserSession, reason: str, *, now: datetime | None = None) -> bool:
    if user_session.revoked_at is not None:
        return False
    user_session.revoked_at = now or utc_now()
    user_session.revoked_reason = reason
    return True


def revoke_user_sessions(
    session: Session,
    user_id: int,
    reason: str,
    *,
    except_session_id: str | None = None,
    now: datetime | None = None,
) -> int:
    """Revoke every live session of a user (one UPDATE); returns how many were live."""
    now = now or utc_now()
    query = (
        update(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > now,
        )
        .values(revoked_at=now, revoked_reason=reason)
        .execution_options(synchronize_session="fetch")
    )
    if except_session_id is not None:
        query = query.where(UserSession.id != except_session_id)
    return session.execute(query).rowcount or 0


# --- login -------------------------------------------------------------------------------


def hit_rate_limit(session: Session, key: str, now: datetime, window_seconds: int) -> int:
    """Count one hit on `key` in the current fixed window; returns the window's count."""
    return hit_rate_limits(session, [key], now, window_seconds)[0]


def hit_rate_limits(
    session: Session, keys: list[str], now: datetime, window_seconds: int
) -> list[int]:
    """Count one hit on each of `keys` (distinct) in the current fixed window; returns each
    window's count, in the order of `keys`.

    One atomic upsert for all of them, so concurrent instances never lose a hit.
    """
    epoch = int(now.timestamp())
    window_start = datetime.fromtimestamp(epoch - epoch % window_seconds, tz=now.tzinfo)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = RateLimitBucket.__table__
    statement = (
        insert(table)
        .values([{"key": key, "window_start": window_start, "count": 1} for key in keys])
        .on_conflict_do_update(
            index_elements=[table.c.key, table.c.window_start],
            set_={"count": table.c.count + 1},
        )
        .returning(table.c.key, table.c.count)
    )
    counts = {key: int(count) for key, count in session.execute(statement).all()}
    if 1 in counts.values():
        # First hit of a new window: a cheap moment to drop expired buckets of every key.
        session.execute(table.delete().where(table.c.window_start < window_start))
    return [counts[key] for key in keys]


def _enforce_login_rate_limit(
    session: Session, client: ClientInfo, settings: Settings, now: datetime
) -> None:
    limit = settings.LOGIN_RATE_LIMIT_PER_MINUTE
    if limit <= 0:
        return
    key = f"login:ip:{client.ip or 'unknown'}"[:128]
    count = hit_rate_limit(session, key, now, RATE_LIMIT_WINDOW_SECONDS)
    if count <= limit:
        return
    if count == limit + 1:  # one audit row per window, not one per refused attempt
        audit.record(
            session,
            "auth.login_rate_limited",
            actor_label=None,
            details={"limit_per_minute": limit},
            client=client,
        )
    session.flush()
    retry_after = RATE_LIMIT_WINDOW_SECONDS - int(now.timestamp()) % RATE_LIMIT_WINDOW_SECONDS
    raise TooManyRequests("too many login attempts; retry later", retry_after=retry_after)


def _register_failure(session: Session, user: User, client: ClientInfo, now: datetime) -> None:
    user.failed_login_count += 1
    if user.failed_login_count % LOCKOUT_THRESHOLD == 0:
        user.lockout_count += 1
        period = min(LOCKOUT_BASE * 2 ** (user.lockout_count - 1), LOCKOUT_MAX)
        user.locked_until = now + period
        audit.record(
            session,
            "auth.lockout",
            actor=user,
            resource_type="user",
            resource_id=user.id,
            details={
                "failed_login_count": user.failed_login_count,
                "locked_seconds": int(period.total_seconds()),
            },
            client=client,
        )


def login(
    session: Session,
    login_name: str,
    password: str,
    client: ClientInfo | None = None,
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> TokenPair:
    """Authenticate by username or email and open a session.

    Every refusal costs one password-hash verify and returns `INVALID_CREDENTIALS`, so neither
    timing nor the response reveals whether the account exists or is disabled. A locked
    account says so (`AccountLocked`, with the time left) only to the right password.
    """
    settings = settings or get_settings()
    now = now or utc_now()
    client = client or ClientInfo()
    # No stored password is longer than PASSWORD_MAX_LENGTH, so a longer candidate is wrong
    # anyway; cutting it just past the limit keeps it wrong and its hashing cheap.
    password = password[: PASSWORD_MAX_LENGTH + 1]
    _enforce_login_rate_limit(session, client, settings, now)
    # The row lock serializes attempts on one account, so parallel guesses cannot slip past
    # the failure counter between read and write.
    user = User.get_by_login(session, login_name, for_update=True) if login_name.strip() else None
    # An unknown "login" may be a password typed into the wrong field: keep only its digest.
    failure_details = (
        {"login": login_name[:64]}
        if user is not None
        else {"login_sha256": hashlib.sha256(login_name.encode()).hexdigest()[:16]}
    )
    if user is None:
        security.verify_dummy_password(password)
        _refuse(session, None, client, {**failure_details, "reason": "unknown_user"})
    assert user is not None
    if user.locked_until is not None and user.locked_until > now:
        _refuse_locked(session, user, password, client, failure_details, now)
    ok, upgraded_hash = security.verify_password(password, user.hashed_password)
    if not ok:
        _register_failure(session, user, client, now)
        _refuse(session, user, client, {**failure_details, "reason": "bad_password"})
    if not user.is_active:
        _refuse(session, user, client, {**failure_details, "reason": "inactive"})
    if upgraded_hash:
        user.hashed_password = upgraded_hash
    user.failed_login_count = 0
    user.lockout_count = 0
    user.locked_until = None
    user.last_login_at = now
    pair = issue_session(session, user, client, settings=settings, now=now)
    audit.record(
        session,
        "auth.login_succeeded",
        actor=user,
        resource_type="session",
        resource_id=pair.session_id,
        details={"password_rehashed": bool(upgraded_hash)},
        client=client,
    )
    return pair


def _refuse_locked(
    session: Session, user: User, password: str, client: ClientInfo, details: dict, now: datetime
) -> None:
    """Refuse a login to a locked account; only the right password learns it is locked.

    Saying so only to the right password (no enumeration) means checking passwords during a
    lock, which must not add guesses: a wrong one counts toward the next lock, and once the
    count is one short of it nothing more is checked until the lock ends. Guesses made during
    a lock are taken from the next round's LOCKOUT_THRESHOLD, so the rate stays the same.
    """
    assert user.locked_until is not None
    details = {**details, "reason": "locked"}
    checks_left = LOCKOUT_THRESHOLD - 1 - user.failed_login_count % LOCKOUT_THRESHOLD
    if checks_left <= 0:
        security.verify_dummy_password(password)
        _refuse(session, user, client, details)
    ok, _ = security.verify_password(password, user.hashed_password)
    if ok and user.is_active:
        _record_refusal(session, user, client, details)
        raise AccountLocked(user.locked_until - now)
    if not ok:
        user.failed_login_count += 1
    _refuse(session, user, client, details)


def _refuse(session: Session, user: User | None, client: ClientInfo, details: dict) -> None:
    _record_refusal(session, user, client, details)
    raise Unauthorized(INVALID_CREDENTIALS)


def _record_refusal(session: Session, user: User | None, client: ClientInfo, details: dict) -> None:
    audit.record(
        session,
        "auth.login_failed",
        actor=user,
        actor_label=None if user else details.get("login"),
        resource_type="user" if user else None,
        resource_id=user.id if user else None,
        details=details,
        client=client,
    )
    session.flush()


# --- refresh, logout ---------------------------------------------------------------------


def refresh(
    session: Session,
    refresh_token: str,
    client: ClientInfo | None = None,
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> TokenPair:
    """Exchange a refresh token for a new pair; the old token is retired for good.

    Presenting a retired token means it leaked (or two clients share it): the whole session is
    revoked, so the thief's and the owner's tokens both stop working (RFC 9700 §4.14.2).
    """
    settings = settings or get_settings()
    now = now or utc_now()
    client = client or ClientInfo()
    token_hash = security.hash_refresh_token(refresh_token)
    # FOR UPDATE: of two concurrent refreshes with one token, the second re-reads after the
    # first commits, no longer matches, and is treated as reuse.
    user_session = UserSession.get_by_refresh_hash(session, token_hash, for_update=True)
    if user_session is None:
        rotated = RotatedRefreshToken.get(session, token_hash)
        if rotated is not None:
            _revoke_for_reuse(session, rotated.session_id, client, now)
        raise Unauthorized("invalid or expired refresh token")
    user = session.get(User, user_session.user_id)
    if user is None or not user.is_active or not user_session.is_active_at(now):
        raise Unauthorized("invalid or expired refresh token")
    session.add(RotatedRefreshToken(token_hash=token_hash, session_id=user_session.id))
    new_refresh = security.new_refresh_token()
    user_session.refresh_token_hash = security.hash_refresh_token(new_refresh)
    user_session.rotation_count += 1
    user_session.last_used_at = now
    access_token, expires_at = security.create_access_token(
        user.id, user_session.id, settings, now=now
    )
    audit.record(
        session,
        "auth.token_refreshed",
        actor=user,
        resource_type="session",
        resource_id=user_session.id,
        details={"rotation": user_session.rotation_count},
        client=client,
    )
    session.flush()
    return TokenPair(access_token, new_refresh, expires_at, user_session.id)


def _revoke_for_reuse(session: Session, session_id: str, client: ClientInfo, now: datetime) -> None:
    user_session = session.get(UserSession, session_id, with_for_update=True)
    if user_session is None:
        return
    newly_revoked = revoke_session(user_session, "refresh_token_reuse", now=now)
    user = session.get(User, user_session.user_id)
    audit.record(
        session,
        "auth.refresh_reuse_detected",
        actor=user,
        resource_type="session",
        resource_id=session_id,
        details={"session_revoked": newly_revoked},
        client=client,
    )
    session.flush()
    log.warning("refresh token reuse detected; session %s revoked", session_id)


def logout(session: Session, principal: Principal, client: ClientInfo | None = None) -> None:
    revoke_session(principal.session, "logout")
    audit.record(
        session,
        "auth.logout",
        actor=principal.user,
        resource_type="session",
        resource_id=principal.session.id,
        client=client,
    )
    session.flush()


def logout_all(session: Session, principal: Principal, client: ClientInfo | None = None) -> int:
    count = revoke_user_sessions(session, principal.user.id, "logout_all")
    audit.record(
        session,
        "auth.logout_all",
        actor=principal.user,
        resource_type="user",
        resource_id=principal.user.id,
        details={"sessions_revoked": count},
        client=client,
    )
    session.flush()
    return count


def change_password(
    session: Session,
    principal: Principal,
    current_password: str,
    new_password: str,
    client: ClientInfo | None = None,
    *,
    now: datetime | None = None,
) -> int:
    """Change the caller's password and end their other sessions; returns how many ended.

    A wrong current password counts as a failed login (and can lock the account), so a stolen
    access token cannot be used to guess the password.
    """
    now = now or utc_now()
    client = client or ClientInfo()
    user = session.get(User, principal.user.id, with_for_update=True)
    assert user is not None
    locked = user.locked_until is not None and user.locked_until > now
    if locked:
        # As at login: during a lock nothing is checked, and the answer is the same as for a
        # wrong password, so the lock cannot be turned into an oracle.
        security.verify_dummy_password(current_password)
        ok = False
    else:
        ok, _ = security.verify_password(current_password, user.hashed_password)
    if not ok:
        if not locked:
            _register_failure(session, user, client, now)
        audit.record(
            session,
            "auth.password_change_failed",
            actor=user,
            resource_type="user",
            resource_id=user.id,
            details={"reason": "locked" if locked else "bad_password"},
            client=client,
        )
        session.flush()
        raise IncorrectPassword()
    if current_password == new_password:
        raise Unprocessable(
            "the new password must differ from the current one", loc=("body", "new_password")
        )
    user.hashed_password = security.hash_password(new_password)
    user.password_changed_at = now
    user.updated_at = now
    ended = revoke_user_sessions(
        session, user.id, "password_changed", except_session_id=principal.session.id, now=now
    )
    audit.record(
        session,
        "auth.password_changed",
        actor=user,
        resource_type="user",
        resource_id=user.id,
        details={"sessions_revoked": ended},
        client=client,
    )
    session.flush()
    return ended
