"""Vendor timestamp parsing, timezone helpers and the human forms of times and durations."""

from datetime import UTC, datetime

import pytest

from helpers.time_utils import (
    format_duration,
    format_local,
    is_valid_timezone,
    make_timezone_aware,
    parse_vendor_timestamp,
    zone_for_region,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-25T14:03:07Z", datetime(2026, 11, 25, 14, 3, 7, tzinfo=UTC)),
        ("2026-11-25T14:03:07.123456789Z", datetime(2026, 11, 25, 14, 3, 7, 123456, tzinfo=UTC)),
        ("2026-11-25T09:03:07.5-05:00", datetime(2026, 11, 25, 14, 3, 7, 500000, tzinfo=UTC)),
        ("2026-11-25T14:03:07", datetime(2026, 11, 25, 14, 3, 7, tzinfo=UTC)),
        (1764079387000, datetime(2025, 11, 25, 14, 3, 7, tzinfo=UTC)),
    ],
)
def test_parse_vendor_timestamp(raw, expected):
    assert parse_vendor_timestamp(raw, epoch="ms") == expected


def test_epoch_unit_is_the_callers_not_guessed():
    """Issue 21.1: ElevenLabs sends unix seconds; read as ms they were 1970-01-21."""
    assert parse_vendor_timestamp(1767225600, epoch="s") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_vendor_timestamp(1767225600123, epoch="ms") == datetime(
        2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC
    )
    with pytest.raises(ValueError):
        parse_vendor_timestamp(1767225600, epoch=None)
    assert parse_vendor_timestamp("2026-01-01T00:00:00Z", epoch=None) == datetime(
        2026, 1, 1, tzinfo=UTC
    )


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01T00:00:00Z", ["x"]])
def test_parse_vendor_timestamp_rejects_garbage(bad):
    with pytest.raises(ValueError):
        parse_vendor_timestamp(bad, epoch=None)


def test_empty_is_none():
    assert parse_vendor_timestamp("", epoch=None) is None
    assert parse_vendor_timestamp(None, epoch="s") is None


def test_make_timezone_aware_uses_the_given_zone():
    naive = datetime(2026, 7, 1, 8, 0)
    assert make_timezone_aware(naive, "America/Chicago") == datetime(2026, 7, 1, 13, 0, tzinfo=UTC)


def test_is_valid_timezone():
    assert is_valid_timezone("America/Denver")
    assert not is_valid_timezone("Mars/Olympus")


@pytest.mark.parametrize(
    ("value", "zone", "expected"),
    [
        (datetime(2026, 12, 3, 20, 5, 33, 123456, tzinfo=UTC), "America/Chicago", "Thu 14:05 CST"),
        (datetime(2026, 7, 2, 20, 5, tzinfo=UTC), "America/Chicago", "Thu 15:05 CDT"),
        (datetime(2026, 7, 2, 20, 5, tzinfo=UTC), "America/Phoenix", "Thu 13:05 MST"),
        (datetime(2026, 7, 2, 20, 5), "America/New_York", "Thu 16:05 EDT"),  # naive = UTC
        (datetime(2026, 7, 2, 20, 5, tzinfo=UTC), None, "Thu 20:05 UTC"),
        (datetime(2026, 7, 2, 20, 5, tzinfo=UTC), "Mars/Olympus", "Thu 20:05 UTC"),
    ],
)
def test_format_local_names_the_zone(value, zone, expected):
    assert format_local(value, zone) == expected


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (85, "1 h 25 min"),
        (45, "45 min"),
        (120, "2 h"),
        (0, "0 min"),
        (0.4, "0 min"),
        (59.6, "1 h"),
        (-5, "-5 min"),
        (1590, "1 d 2 h"),
        (2880, "2 d"),
    ],
)
def test_format_duration(minutes, expected):
    assert format_duration(minutes) == expected


def test_zone_for_region():
    assert zone_for_region("TX") == zone_for_region(" tx ") == "America/Chicago"
    assert zone_for_region("AZ") == "America/Phoenix"
    assert zone_for_region("ON") == "America/Toronto"
    assert zone_for_region("Texas") is None and zone_for_region(None) is None
