"""Report units of work with their own transactions: the morning report run, the scheduler's
tick (morning reports at each scope's local time, the nightly driver-report rebuild) and the
refresh after ingest. Each commits its writes, then drains the report outbox, so a delivery
never goes out for data that was rolled back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from config import Settings, get_settings
from db.database import session_scope
from helpers.errors import UpstreamNotConfigured
from helpers.time_utils import utc_now
from logic.reports import morning, outbox
from logic.reports.driver_reports import build_driver_reports
from logic.reports.sql import local_day_window
from models.report import DriverReport, MorningReport, ReportRecipients

log = logging.getLogger(__name__)


@dataclass
class MorningRun:
    report_date: date
    reports: list[dict[str, Any]] = field(default_factory=list)
    queued: int = 0
    delivery: dict[str, Any] | None = None


def delivery_clients(settings: Settings | None = None) -> tuple[Any | None, Any | None]:
    """(slack, mailer) from settings; None for each that is not configured."""
    from utils.mailer import build_mailer
    from utils.slack_client import build_slack_client

    settings = settings or get_settings()
    clients: list[Any | None] = []
    for build in (build_slack_client, build_mailer):
        try:
            clients.append(build(settings))
        except UpstreamNotConfigured:
            clients.append(None)
    return clients[0], clients[1]


def local_today(zone: str, now: datetime) -> date:
    return now.astimezone(ZoneInfo(zone)).date()


def run_morning_report(
    report_date: date | None = None,
    *,
    terminal: str | None = None,
    deliver: bool = True,
    now: datetime | None = None,
    clients: tuple[Any | None, Any | None] | None = None,
) -> MorningRun:
    """Generate (or regenerate) the morning report(s) of `report_date` — default: today in
    `REPORT_DEFAULT_TIMEZONE` — queue them for their recipients, then deliver."""
    settings = get_settings()
    now = now or utc_now()
    report_date = report_date or local_today(settings.REPORT_DEFAULT_TIMEZONE, now)
    run = MorningRun(report_date=report_date)
    with session_scope() as session:
        reports = morning.generate(session, report_date, terminal=terminal, now=now)
        for report in reports:
            recipients = ReportRecipients.get_for(session, report.terminal)
            run.queued += outbox.enqueue(session, report, recipients, now)
            run.reports.append(
                {"id": report.id, "terminal": report.terminal, "report_date": report_date}
            )
    if deliver:
        slack, mailer = clients if clients is not None else delivery_clients(settings)
        run.delivery = outbox.drain(slack=slack, mailer=mailer, now=now).__dict__
    return run


@dataclass
class TickResult:
    morning_reports: list[dict[str, Any]] = field(default_factory=list)
    rebuilt_driver_reports: str | None = None
    delivery: dict[str, Any] | None = None


def tick(
    *, now: datetime | None = None, clients: tuple[Any | None, Any | None] | None = None
) -> TickResult:
    """One scheduler pass: each enabled scope whose local `send_at` has passed today and has no
    report for today yet gets it generated and queued; yesterday's driver reports are rebuilt
    once `REPORT_NIGHTLY_DELAY_MINUTES` after local midnight; due deliveries are drained.
    Safe to run from several instances: generation is an upsert and each target is queued once.
    """
    settings = get_settings()
    now = now or utc_now()
    result = TickResult()
    with session_scope() as session:
        result.rebuilt_driver_reports = _nightly_rebuild(session, now, settings)
        for recipients in ReportRecipients.all(session):
            if not recipients.enabled:
                continue
            today = local_today(recipients.timezone, now)
            hours, minutes = (int(p) for p in recipients.send_at.split(":"))
            send_at = datetime.combine(
                today, time(hours, minutes), tzinfo=ZoneInfo(recipients.timezone)
            )
            if now < send_at or MorningReport.get_for(session, today, recipients.terminal):
                continue
            for report in morning.generate(
                session, today, terminal=recipients.terminal, now=now, settings=settings
            ):
                outbox.enqueue(session, report, recipients, now)
                result.morning_reports.append(
                    {"terminal": report.terminal, "report_date": today.isoformat()}
                )
    slack, mailer = clients if clients is not None else delivery_clients(settings)
    result.delivery = outbox.drain(slack=slack, mailer=mailer, now=now).__dict__
    return result


def _nightly_rebuild(session, now: datetime, settings: Settings) -> str | None:
    """Rebuild yesterday's driver reports when none was built after the settle delay."""
    zone = settings.REPORT_DEFAULT_TIMEZONE
    yesterday = local_today(zone, now) - timedelta(days=1)
    _, midnight = local_day_window(yesterday, zone)
    due = midnight + timedelta(minutes=settings.REPORT_NIGHTLY_DELAY_MINUTES)
    if now < due:
        return None
    newest = session.scalar(
        select(func.max(DriverReport.generated_at)).where(DriverReport.report_date == yesterday)
    )
    if newest is not None and newest >= due:
        return None
    build_driver_reports(session, yesterday, now=now, settings=settings)
    return yesterday.isoformat()


def refresh_after_ingest(now: datetime | None = None) -> None:
    """Rebuild today's and yesterday's driver reports after ingest changed data; never raises
    (an ingest run must not fail because a report could not be refreshed)."""
    settings = get_settings()
    now = now or utc_now()
    today = local_today(settings.REPORT_DEFAULT_TIMEZONE, now)
    try:
        with session_scope() as session:
            for day in (today - timedelta(days=1), today):
                build_driver_reports(session, day, now=now, settings=settings)
    except Exception:
        log.exception("driver report refresh after ingest failed")
