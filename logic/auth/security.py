"""Password hashing (argon2id first, bcrypt accepted), JWT access tokens and refresh tokens.

Argon2id is tuned to the OWASP minimum (19 MiB, t=2, p=1): about 20 ms per verify on the
reference machine. bcrypt hashes from a legacy system still verify and are flagged for rehash.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from jose import JWTError, jwt
from passlib.context import CryptContext

from config import Settings, get_settings
from helpers.time_utils import utc_now

# Only HMAC algorithms are ever accepted, so a token cannot choose `none` or an asymmetric
# algorithm whose "public key" would be our secret.
ALLOWED_JWT_ALGORITHMS = ("HS256", "HS384", "HS512")
ACCESS_TOKEN_TYPE = "access"  # noqa: S105 (a claim value, not a secret)

pwd_context = CryptContext(
    schemes=["argon2", "bcrypt"],
    deprecated=["bcrypt"],
    argon2__type="ID",
    argon2__memory_cost=19 * 1024,
    argon2__time_cost=2,
    argon2__parallelism=1,
)


class TokenError(Exception):
    """The token is malformed, badly signed, expired or of the wrong type."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    session_id: str
    jti: str
    expires_at: datetime


def hash_password(password: str) -> str:
    return pwd_context.hash(password)


def verify_password(password: str, hashed: str) -> tuple[bool, str | None]:
    """Check a password; returns (ok, new_hash) where new_hash is set when it needs upgrading.

    bcrypt only reads 72 bytes: a longer candidate against a legacy bcrypt hash is refused
    rather than silently compared on its prefix.
    """
    try:
        return pwd_context.verify_and_update(password, hashed)
    except (ValueError, TypeError):
        return False, None


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return pwd_context.hash(secrets.token_urlsafe(16))


def verify_dummy_password(password: str) -> None:
    """Spend the same time as a real verify (for unknown or locked accounts)."""
    pwd_context.verify(password, _dummy_hash())


def create_access_token(
    user_id: int, session_id: str, settings: Settings | None = None, *, now: datetime | None = None
) -> tuple[str, datetime]:
    settings = settings or get_settings()
    issued = now or utc_now()
    expires = issued + timedelta(minutes=settings.ACCESS_TOKEN_EXPIRE_MINUTES)
    claims = {
        "sub": str(user_id),
        "sid": session_id,
        "jti": uuid.uuid4().hex,
        "type": ACCESS_TOKEN_TYPE,
        "iat": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
    }
    token = jwt.encode(claims, settings.SECRET_KEY.get_secret_value(), algorithm=settings.ALGORITHM)
    return token, expires


def decode_access_token(token: str, settings: Settings | None = None) -> AccessClaims:
    settings = settings or get_settings()
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.SECRET_KEY.get_secret_value(),
            algorithms=[settings.ALGORITHM],
            options={"require_exp": True, "require_iat": True, "require_sub": True},
        )
    except JWTError as exc:
        raise TokenError(str(exc)) from None
    if claims.get("type") != ACCESS_TOKEN_TYPE:
        raise TokenError("not an access token")
    sub, sid, jti = claims.get("sub"), claims.get("sid"), claims.get("jti")
    if not (isinstance(sub, str) and sub.isdigit() and isinstance(sid, str) and sid):
        raise TokenError("missing subject or session")
    return AccessClaims(
        user_id=int(sub),
        session_id=sid,
        jti=str(jti or ""),
        expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=utc_now().tzinfo),
    )


def new_refresh_token() -> str:
    """256 random bits, URL-safe; only its hash is ever stored."""
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    # A fast hash suffices: the token has 256 bits of entropy, so there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def new_session_id() -> str:
    return uuid.uuid4().hex


def constant_time_equals(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode(), expected.encode())
