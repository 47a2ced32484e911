"""The demo's first morning report: a default recipient and today's report, delivered once.

`hub seed-demo` (run by `make run`) calls it on a sandbox stack, so a first tour finds a morning
report in the sandbox Slack (#fleet-reports) and mailbox without any setup. Idempotent: a stack
that already has recipients keeps them, and a day that already has its report is not re-sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from config import get_settings
from db.database import session_scope
from helpers.time_utils import utc_now
from logic.reports import recipients
from logic.reports.jobs import local_today, run_morning_report
from models.report import FLEET, MorningReport, ReportRecipients, ReportRecipientsUpdate

DEMO_CHANNEL = "#fleet-reports"
DEMO_EMAIL = "fleet-reports@example.com"


@dataclass
class DemoReport:
    recipient_added: bool
    report_date: str
    generated: bool
    delivered: int = 0
    failed: int = 0


def first_morning_report(*, now: datetime | None = None) -> DemoReport:
    """Add the fleet-wide recipient if the hub has none, then build and deliver today's
    morning report unless it exists already."""
    settings = get_settings()
    now = now or utc_now()
    today = local_today(settings.REPORT_DEFAULT_TIMEZONE, now)
    with session_scope() as session:
        added = not ReportRecipients.all(session)
        if added:
            recipients.put(
                session,
                ReportRecipientsUpdate(
                    terminal=FLEET,
                    timezone=settings.REPORT_DEFAULT_TIMEZONE,
                    slack_channels=[DEMO_CHANNEL],
                    emails=[DEMO_EMAIL],
                ),
            )
        exists = MorningReport.get_for(session, today, FLEET) is not None
    result = DemoReport(recipient_added=added, report_date=today.isoformat(), generated=not exists)
    if exists:
        return result
    # Every scope is built (the console shows any terminal); only scopes with recipients send.
    run = run_morning_report(today, now=now)
    if run.delivery is not None:
        result.delivered, result.failed = run.delivery["sent"], run.delivery["failed"]
    return result
