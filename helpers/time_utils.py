"""Time helpers: aware-UTC now, making datetimes aware, parsing vendor timestamps, and the
human forms messages use (local time with its zone, "1 h 25 min", a US state's time zone)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def utc_now() -> datetime:
    return datetime.now(UTC)


def make_timezone_aware(value: datetime, assume: str = "UTC") -> datetime:
    """Return `value` in UTC; a naive value is taken to be in the IANA zone `assume`."""
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=ZoneInfo(assume))
    return value.astimezone(UTC)


def parse_vendor_timestamp(
    value: str | int | float | datetime | None, *, epoch: Literal["s", "ms"] | None
) -> datetime | None:
    """Parse RFC 3339 strings (`Z` or offsets, any fraction digits) or epoch numbers into aware UTC.

    `epoch` is the unit the caller's vendor documents for numbers: "s" (ElevenLabs' `*_unix_secs`,
    `event_timestamp`), "ms" (VAPI's message `timestamp`), or None where the field is a string
    and a number is bad data. The unit is never guessed from the magnitude: 1767225600 is a
    plausible value in both units. Naive strings are taken as UTC (Samsara and Ditat both
    document UTC). Raises ValueError for values that are not a timestamp, so callers can count
    them as bad vendor data.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return make_timezone_aware(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if epoch is None:
            raise ValueError(f"a number where a timestamp string is expected: {value!r}")
        return datetime.fromtimestamp(value / 1000 if epoch == "ms" else value, UTC)
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


def format_local(value: datetime, zone: str | None = None) -> str:
    """`value` as a weekday, clock time and zone in the IANA `zone`: "Thu 14:05 CST" (UTC when
    the zone is missing or unknown; naive values are taken as UTC)."""
    tz = ZoneInfo(zone) if zone and is_valid_timezone(zone) else UTC
    local = make_timezone_aware(value).astimezone(tz)
    return f"{local:%a %H:%M} {local.tzname()}"


def format_local_datetime(value: datetime, zone: str | None = None) -> str:
    """`value` with its date, as a place reads it: "Wed Mar 11, 09:55 CDT" in the IANA `zone`
    (UTC when the zone is missing or unknown; naive values are taken as UTC)."""
    tz = ZoneInfo(zone) if zone and is_valid_timezone(zone) else UTC
    local = make_timezone_aware(value).astimezone(tz)
    return f"{local:%a %b} {local.day}, {local:%H:%M} {local.tzname()}"


def format_duration(minutes: float) -> str:
    """Minutes for people: 85 → "1 h 25 min", 45 → "45 min", 120 → "2 h", 1590 → "1 d 2 h"."""
    total = round(abs(minutes))
    sign = "-" if minutes < 0 and total else ""
    days, rest = divmod(total, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        parts = [f"{days} d", f"{hours} h" if hours else ""]
    elif hours:
        parts = [f"{hours} h", f"{mins} min" if mins else ""]
    else:
        parts = [f"{mins} min"]
    return sign + " ".join(p for p in parts if p)


# The zone most of each state or province lives in (split states take their larger part).
_REGION_ZONES = {
    **dict.fromkeys(
        ("CT", "DC", "DE", "FL", "GA", "KY", "MA", "MD", "ME", "NC", "NH", "NJ", "NY", "OH",
         "PA", "RI", "SC", "VA", "VT", "WV"),
        "America/New_York",
    ),
    **dict.fromkeys(
        ("AL", "AR", "IA", "IL", "KS", "LA", "MN", "MO", "MS", "ND", "NE", "OK", "SD", "TN",
         "TX", "WI"),
        "America/Chicago",
    ),
    **dict.fromkeys(("CO", "MT", "NM", "UT", "WY"), "America/Denver"),
    **dict.fromkeys(("CA", "NV", "OR", "WA"), "America/Los_Angeles"),
    "AK": "America/Anchorage",
    "AZ": "America/Phoenix",
    "HI": "Pacific/Honolulu",
    "ID": "America/Boise",
    "IN": "America/Indiana/Indianapolis",
    "MI": "America/Detroit",
    "PR": "America/Puerto_Rico",
    "AB": "America/Edmonton",
    "BC": "America/Vancouver",
    "MB": "America/Winnipeg",
    "NB": "America/Moncton",
    "NL": "America/St_Johns",
    "NS": "America/Halifax",
    "NT": "America/Yellowknife",
    "NU": "America/Iqaluit",
    "ON": "America/Toronto",
    "PE": "America/Halifax",
    "QC": "America/Toronto",
    "SK": "America/Regina",
    "YT": "America/Whitehorse",
}  # fmt: skip


def zone_for_region(state: str | None) -> str | None:
    """The IANA zone of a US state or Canadian province code ("TX" → America/Chicago), if known."""
    return _REGION_ZONES.get((state or "").strip().upper())
