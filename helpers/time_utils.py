"""Time helpers: aware-UTC now, making datetimes aware, and parsing vendor timestamps."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def utc_now() -> datetime:
    return datetime.now(UTC)


def make_timezone_aware(value: datetime, assume: str = "UTC") -> datetime:
    """Return `value` in UTC; a naive value is taken to be in the IANA zone `assume`."""
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=ZoneInfo(assume))
    return value.astimezone(UTC)


def parse_vendor_timestamp(value: str | int | float | datetime | None) -> datetime | None:
    """Parse RFC 3339 strings (`Z` or offsets, any fraction digits) or epoch ms into aware UTC.

    Naive strings are taken as UTC (Samsara and Ditat both document UTC). Raises ValueError for
    values that are not a timestamp, so callers can count them as bad vendor data.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return make_timezone_aware(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python 3.11 parses at most 6 fraction digits; vendors send up to 9.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    return make_timezone_aware(datetime.fromisoformat(text))


def is_valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
