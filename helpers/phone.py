"""Phone numbers to E.164 with `phonenumbers` (default region US), keeping extensions apart.

Numbers that parse but are not valid (`911`, `555-555-5555`) are refused, never stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

DEFAULT_REGION = "US"


class InvalidPhoneNumber(ValueError):
    """The input is not a dialable number (unparseable, or parseable but not valid)."""


@dataclass(frozen=True)
class NormalizedPhone:
    e164: str
    extension: str | None
    region: str | None

    @property
    def rfc3966(self) -> str:
        """`tel:` URI form, which (unlike E.164) can carry the extension."""
        return f"tel:{self.e164};ext={self.extension}" if self.extension else f"tel:{self.e164}"


# Parsing costs a fraction of a millisecond, and a pass over many drivers asks for each number
# more than once (the checks, then the row); the result is immutable.
@lru_cache(maxsize=8192)
def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> NormalizedPhone:
    """Parse `raw` (any common format, vanity letters, `x123`/`ext.` extensions) into E.164.

    Raises InvalidPhoneNumber for empty input, garbage, and numbers that parse but are not
    valid for any region (`is_possible_number` is not validity: 555-555-5555 is "possible").
    """
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("phone number is empty")
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number ({exc._msg})") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(f"{raw!r} is not a valid phone number")
    return NormalizedPhone(
        e164=phonenumbers.format_number(number, PhoneNumberFormat.E164),
        extension=number.extension or None,
        region=phonenumbers.region_code_for_number(number),
    )


def to_e164(raw: str, region: str = DEFAULT_REGION) -> str:
    """E.164 string for `raw`; the extension, if any, is dropped (use `normalize_phone`)."""
    return normalize_phone(raw, region).e164


def try_e164(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """E.164 or None: for vendor data, where a bad number must not reject the whole record."""
    if not raw:
        return None
    try:
        return to_e164(raw, region)
    except InvalidPhoneNumber:
        return None
