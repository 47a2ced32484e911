"""E.164 normalization: formats, extensions, vanity numbers, regions and invalid input."""

from __future__ import annotations

import pytest

from helpers.phone import InvalidPhoneNumber, normalize_phone, to_e164, try_e164


@pytest.mark.parametrize(
    "raw",
    [
        "(415) 555-2671",
        "415-555-2671",
        "4155552671",
        "14155552671",
        "1 (415) 555-2671",
        "+1 415 555 2671",
        "  415.555.2671  ",
    ],
)
def test_us_formats_normalize_to_the_same_e164(raw: str) -> None:
    assert to_e164(raw) == "+14155552671"


def test_extension_is_kept_apart_from_e164() -> None:
    phone = normalize_phone("415.555.2671 x123")
    assert phone.e164 == "+14155552671"
    assert phone.extension == "123"
    assert phone.rfc3966 == "tel:+14155552671;ext=123"
    assert normalize_phone("415 555 2671 ext. 9").extension == "9"
    assert normalize_phone("4155552671").extension is None


def test_vanity_letters_and_foreign_numbers() -> None:
    assert to_e164("1-800-FLOWERS") == "+18003569377"
    uk = normalize_phone("011 44 20 7946 0958")
    assert (uk.e164, uk.region) == ("+442079460958", "GB")
    assert normalize_phone("+1 416 555 0199").region == "CA"


@pytest.mark.parametrize(
    "raw",
    ["911", "411", "12", "555-555-5555", "+1 (123) 456-7890", "0014155552671", "", "abc", "+"],
)
def test_invalid_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone(raw)


def test_too_long_input_is_refused_with_the_input_named() -> None:
    with pytest.raises(InvalidPhoneNumber, match="123456789012345678901"):
        to_e164("123456789012345678901")


def test_try_e164_is_forgiving_for_vendor_data() -> None:
    assert try_e164("201-555-0123") == "+12015550123"
    assert try_e164("911") is None
    assert try_e164(None) is None
