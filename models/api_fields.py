"""Field types the API shares: optional-but-not-null PATCH fields, strict dates and times, Slack
channels. Each refusal is a validation error whose message names what was expected."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo
from pydantic_core import PydanticCustomError

# Dates outside this range are typos or epoch numbers read as dates (`date=0` was 1970-01-01).
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2100, 12, 31)

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# RFC 3339 date-time; the offset may be left out (the API documents naive times as UTC), and
# seconds too, as people type them.
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})?")


def _refuse_null(value: Any, info: ValidationInfo) -> Any:
    if value is None:
        raise PydanticCustomError(
            "null_not_allowed",
            "{field} may be left out but cannot be null",
            {"field": info.field_name or "this field"},
        )
    return value


def _no_default(schema: dict[str, Any]) -> None:
    # The None default only means "left out"; published, it would read as a valid value.
    schema.pop("default", None)


class NotNull:
    """`NotNull[T]`: a PATCH field that may be omitted (default None) but never sent as null.

    The stored column is NOT NULL, so an explicit null is a 422 naming the field rather than an
    integrity error; OpenAPI describes the field as a plain (non-nullable) T.
    """

    def __class_getitem__(cls, item: Any) -> Any:
        return Annotated[item, BeforeValidator(_refuse_null), Field(json_schema_extra=_no_default)]


def _in_range(day: date) -> None:
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise PydanticCustomError(
            "date_out_of_range",
            "must be between {earliest} and {latest}",
            {"earliest": EARLIEST_DAY.isoformat(), "latest": LATEST_DAY.isoformat()},
        )


def parse_api_date(value: Any) -> date:
    """A calendar day written `YYYY-MM-DD` (no numbers, no times), between 2000 and 2100."""
    if isinstance(value, datetime):
        raise PydanticCustomError("date_format", "expected a date as YYYY-MM-DD, not a date-time")
    if isinstance(value, date):
        day = value
    elif isinstance(value, str) and _DAY.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError(
                "date_format", "{value} is not a calendar date (YYYY-MM-DD)", {"value": value}
            ) from None
    else:
        raise PydanticCustomError("date_format", "expected a date as YYYY-MM-DD, e.g. 2026-03-14")
    _in_range(day)
    return day


def parse_api_datetime(value: Any) -> datetime:
    """An RFC 3339 date-time (a bare `YYYY-MM-DD` is its midnight), returned aware (UTC if
    naive), between 2000 and 2100. Epoch numbers are refused: their unit is a guess."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and _DAY.fullmatch(value):
        moment = datetime.combine(parse_api_date(value), time())
    elif isinstance(value, str) and _DATETIME.fullmatch(value):
        try:
            moment = datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
        except ValueError:
            raise PydanticCustomError(
                "datetime_format", "{value} is not a valid date-time (RFC 3339)", {"value": value}
            ) from None
    else:
        raise PydanticCustomError(
            "datetime_format", "expected a date-time as RFC 3339, e.g. 2026-03-14T08:30:00Z"
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    _in_range(moment.astimezone(UTC).date())
    return moment


ApiDate = Annotated[date, BeforeValidator(parse_api_date)]
ApiDateTime = Annotated[datetime, BeforeValidator(parse_api_datetime)]

# Slack's rules for channel names: lowercase letters, digits, hyphens and underscores; with its
# "#" a name must fit the 80-character columns. Ids are public (C…) or private (G…) channels.
_CHANNEL_NAME = re.compile(r"#?[a-z0-9][a-z0-9_-]{0,78}")
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{8,20}")


def check_slack_channel(value: str) -> str:
    """`#name` (a bare name gets its `#`) or a channel id; anything else would fail delivery
    for good with `channel_not_found`, so it is refused on input."""
    if _CHANNEL_ID.fullmatch(value):
        return value
    if _CHANNEL_NAME.fullmatch(value):
        return value if value.startswith("#") else f"#{value}"
    raise PydanticCustomError(
        "slack_channel",
        "{value} is not a Slack channel: give #name (lowercase letters, digits, - and _, "
        "80 characters with the #) or a channel id such as C0123ABCDEF",
        {"value": repr(value[:100])},
    )


SlackChannel = Annotated[str, AfterValidator(check_slack_channel)]

# An address with a local part, an @ and a dotted domain, no spaces, within RFC 5321's 254.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def check_email(value: str) -> str:
    """An email address, trimmed; anything else would bounce for good, so it is refused."""
    value = value.strip()
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise PydanticCustomError(
            "email", "{value} is not an email address", {"value": repr(value[:100])}
        )
    return value


EmailAddress = Annotated[str, AfterValidator(check_email)]
