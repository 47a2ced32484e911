"""Errors and primitives shared by the webhook signature helpers (Slack, VAPI, ElevenLabs).

Every check runs over the raw request bytes and compares in constant time. A missing header is
`SignatureMissing` (answer 400); a wrong or stale signature is `SignatureInvalid` (answer 401).
"""

from __future__ import annotations

import hashlib
import hmac
import time


class WebhookSignatureError(Exception):
    """A webhook could not be authenticated; the message says why (never the secret)."""


class SignatureMissing(WebhookSignatureError):
    """The signature or timestamp header is absent."""


class SignatureInvalid(WebhookSignatureError):
    """The signature does not match the body, or its timestamp is outside the tolerance."""


class SignatureNotConfigured(WebhookSignatureError):
    """No secret is configured, so nothing can be verified: refuse rather than accept."""


def hmac_sha256_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def constant_time_equals(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode(), right.encode())


def require_secret(secret: str | None, setting: str) -> str:
    if not secret:
        raise SignatureNotConfigured(f"{setting} is not set; refusing unverifiable webhooks")
    return secret


def parse_unix_timestamp(value: str) -> float:
    """Seconds since the epoch; a value in milliseconds (13 digits) is scaled down."""
    try:
        seconds = float(value.strip())
    except ValueError:
        raise SignatureInvalid("timestamp is not a number") from None
    return seconds / 1000 if seconds > 1e11 else seconds


def check_age(
    timestamp: float, *, tolerance: float, now: float | None, allow_future: bool = True
) -> None:
    current = time.time() if now is None else now
    if current - timestamp > tolerance:
        raise SignatureInvalid("timestamp outside the tolerance window")
    if not allow_future and timestamp - current > tolerance:
        raise SignatureInvalid("timestamp outside the tolerance window")
