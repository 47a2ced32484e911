"""Password hashing and JWT handling: algorithm, cost, no truncation, strict decoding."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import bcrypt
import pytest
from jose import jwt

from config import get_settings
from helpers.time_utils import utc_now
from logic.auth import security


def test_new_hashes_are_argon2id_at_the_owasp_minimum():
    hashed = security.hash_password("a perfectly fine password")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_verify_costs_at_most_50_ms():
    hashed = security.hash_password("measure me please")
    security.verify_password("measure me please", hashed)  # warm up
    costs = []
    for _ in range(5):
        # CPU time, not wall time: argon2 with p=1 is one thread's work, and a busy test
        # machine must not turn waiting for a core into a failure.
        started = time.process_time()
        assert security.verify_password("measure me please", hashed)[0]
        costs.append(time.process_time() - started)
    assert sorted(costs)[2] <= 0.050


def test_a_100_character_password_is_checked_in_full():
    password = "p" * 99 + "!"
    hashed = security.hash_password(password)
    assert security.verify_password(password, hashed) == (True, None)
    assert security.verify_password("p" * 99 + "?", hashed)[0] is False
    assert security.verify_password("p" * 72, hashed)[0] is False


def test_legacy_bcrypt_hash_verifies_and_asks_for_an_argon2_upgrade():
    legacy = bcrypt.hashpw(b"legacy secret", bcrypt.gensalt(rounds=4)).decode()
    ok, upgraded = security.verify_password("legacy secret", legacy)
    assert ok is True
    assert upgraded is not None and upgraded.startswith("$argon2id$")
    assert security.verify_password("legacy secret", upgraded) == (True, None)
    assert security.verify_password("wrong secret", legacy) == (False, None)


def test_bcrypt_never_matches_on_a_72_byte_prefix():
    legacy = bcrypt.hashpw(b"x" * 72, bcrypt.gensalt(rounds=4)).decode()
    assert security.verify_password("x" * 72, legacy)[0] is True
    assert security.verify_password("x" * 72 + "anything more", legacy)[0] is False


def _b64(part: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def test_access_token_round_trip_carries_the_claims():
    token, expires = security.create_access_token(7, "abc123")
    claims = jwt.get_unverified_claims(token)
    assert set(claims) == {"sub", "sid", "jti", "type", "iat", "exp"}
    assert claims["type"] == "access"
    decoded = security.decode_access_token(token)
    assert (decoded.user_id, decoded.session_id) == (7, "abc123")
    assert decoded.expires_at == expires.replace(microsecond=0)


def test_alg_none_is_refused():
    token, _ = security.create_access_token(7, "abc123")
    claims = jwt.get_unverified_claims(token)
    forged = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    with pytest.raises(security.TokenError):
        security.decode_access_token(forged)


def test_tampered_payload_and_foreign_key_are_refused():
    token, _ = security.create_access_token(7, "abc123")
    header, _payload, signature = token.split(".")
    claims = jwt.get_unverified_claims(token) | {"sub": "1"}
    with pytest.raises(security.TokenError):
        security.decode_access_token(f"{header}.{_b64(claims)}.{signature}")
    other = jwt.encode(claims, "another-secret-key-0123456789-abcdefghij", algorithm="HS256")
    with pytest.raises(security.TokenError):
        security.decode_access_token(other)


def test_other_hmac_algorithm_than_configured_is_refused():
    secret = get_settings().SECRET_KEY.get_secret_value()
    now = utc_now()
    claims = {"sub": "7", "sid": "s", "jti": "j", "type": "access", "iat": int(now.timestamp())}
    claims["exp"] = int((now + timedelta(minutes=5)).timestamp())
    with pytest.raises(security.TokenError):
        security.decode_access_token(jwt.encode(claims, secret, algorithm="HS512"))


def test_expired_and_wrong_type_tokens_are_refused():
    past = utc_now() - timedelta(days=3)
    expired, _ = security.create_access_token(7, "abc123", now=past)
    with pytest.raises(security.TokenError):
        security.decode_access_token(expired)
    secret = get_settings().SECRET_KEY.get_secret_value()
    claims = jwt.get_unverified_claims(security.create_access_token(7, "s")[0])
    refresh_typed = jwt.encode(claims | {"type": "refresh"}, secret, algorithm="HS256")
    with pytest.raises(security.TokenError):
        security.decode_access_token(refresh_typed)


def test_refresh_tokens_are_random_and_stored_only_as_hashes():
    first, second = security.new_refresh_token(), security.new_refresh_token()
    assert first != second and len(first) >= 43  # 32 bytes, base64url
    assert security.hash_refresh_token(first) != first
    assert len(security.hash_refresh_token(first)) == 64
