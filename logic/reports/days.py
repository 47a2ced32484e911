"""Which report days exist yet: a day that has not begun anywhere is refused, not built empty."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from helpers.errors import Unprocessable
from helpers.time_utils import utc_now

# Report days are local days, and the earliest zone on Earth is UTC+14: a day has begun
# somewhere once UTC is 14 hours short of it.
_EARLIEST_ZONE = timedelta(hours=14)


def latest_day(now: datetime) -> date:
    return (now + _EARLIEST_ZONE).date()


def check_not_future(day: date | None, *, what: str = "date", now: datetime | None = None) -> None:
    """Refuse a report day in the future with a 422 that says so (None: the default day);
    `what` names the query parameter."""
    if day is not None and day > latest_day(now or utc_now()):
        raise Unprocessable(
            f"{what} {day.isoformat()} is in the future: reports cover today and earlier days",
            loc=("query", what),
            input=day.isoformat(),
        )
