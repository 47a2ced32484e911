"""Vendor timestamp parsing and timezone helpers."""

from datetime import UTC, datetime

import pytest

from helpers.time_utils import is_valid_timezone, make_timezone_aware, parse_vendor_timestamp


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
    assert parse_vendor_timestamp(raw) == expected


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01T00:00:00Z", ["x"]])
def test_parse_vendor_timestamp_rejects_garbage(bad):
    with pytest.raises(ValueError):
        parse_vendor_timestamp(bad)


def test_empty_is_none():
    assert parse_vendor_timestamp("") is None
    assert parse_vendor_timestamp(None) is None


def test_make_timezone_aware_uses_the_given_zone():
    naive = datetime(2026, 7, 1, 8, 0)
    assert make_timezone_aware(naive, "America/Chicago") == datetime(2026, 7, 1, 13, 0, tzinfo=UTC)


def test_is_valid_timezone():
    assert is_valid_timezone("America/Denver")
    assert not is_valid_timezone("Mars/Olympus")
