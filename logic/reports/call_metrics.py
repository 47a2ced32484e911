"""Call metrics for driver reports: calls placed in the window by outcome, insight issues and
follow-ups (the calls models are `models/call.py`; a call counts on the day it was created)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, cast, func, select, true
from sqlmodel import Session

from logic.reports.sql import json_array_elements
from models.call import Call, CallInsight


def outcome_of() -> Any:
    """A call's outcome, or its status while it has none (queued, in progress…)."""
    return func.coalesce(Call.outcome, Call.status)


def add_driver_call_metrics(
    session: Session, dd: Any, rows: dict[int, dict[str, Any]], in_window: Any
) -> None:
    dialect = session.get_bind().dialect.name
    outcome = outcome_of()
    calls = (
        select(dd.c.driver_id, outcome, func.count())
        .join(Call, Call.driver_id == dd.c.driver_id)
        .where(in_window(Call.created_at))
        .group_by(dd.c.driver_id, outcome)
    )
    for driver_id, name, count in session.execute(calls):
        rows[driver_id]["call_outcomes"][str(name)] = int(count)
        rows[driver_id]["calls"] += int(count)

    issue = json_array_elements(dialect, CallInsight.issues)
    issues = (
        select(dd.c.driver_id, cast(issue.c.value, String), func.count())
        .select_from(dd)
        .join(CallInsight, CallInsight.driver_id == dd.c.driver_id)
        .join(issue, true())
        .where(in_window(CallInsight.created_at))
        .group_by(dd.c.driver_id, cast(issue.c.value, String))
    )
    for driver_id, name, count in session.execute(issues):
        rows[driver_id]["call_issues"][str(name)] = int(count)

    follow_ups = (
        select(dd.c.driver_id, func.count())
        .join(CallInsight, CallInsight.driver_id == dd.c.driver_id)
        .where(in_window(CallInsight.created_at), CallInsight.needs_follow_up.is_(True))
        .group_by(dd.c.driver_id)
    )
    for driver_id, count in session.execute(follow_ups):
        rows[driver_id]["follow_ups"] = int(count)
