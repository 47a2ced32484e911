"""Data fixes carried by migrations, run against rows as the old release stored them."""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType

from sqlmodel import Session

from helpers.time_utils import parse_vendor_timestamp
from models.webhook_event import WebhookEvent
from tests.factories import make_driver
from tests.factories_calls import make_call

VERSIONS = Path(__file__).resolve().parents[2] / "alembic" / "versions"


def _migration(name: str) -> ModuleType:
    (path,) = VERSIONS.glob(f"*_{name}.py")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_elevenlabs_calls_dated_1970_are_re_dated_from_unix_seconds(session: Session):
    """Issue 21.1: rows the old release wrote from the comms example (1767225600 read as ms)."""
    fix = _migration("elevenlabs_times_were_read_as_ms")
    misread = parse_vendor_timestamp(1767225600, epoch="ms")
    assert misread is not None and misread.year == 1970
    driver = make_driver(session)
    broken = make_call(
        session,
        driver_id=driver.id,
        provider="elevenlabs",
        provider_call_id="conv_01jzzzz",
        started_at=misread,
        ended_at=misread + timedelta(seconds=118),
        duration_seconds=118,
    )
    right = datetime(2026, 1, 1, tzinfo=UTC)
    vapi = make_call(session, driver_id=driver.id, provider="vapi", started_at=right)
    event = WebhookEvent(
        provider="elevenlabs",
        fingerprint="conv_01jzzzz:post_call_transcription",
        event_type="post_call_transcription",
        occurred_at=parse_vendor_timestamp(1767225800, epoch="ms"),
    )
    session.add(event)
    session.flush()
    now = datetime(2026, 12, 6, tzinfo=UTC)

    assert fix.repair(session.connection(), now=now) == 1
    assert fix.repair(session.connection(), now=now) == 0  # nothing left to repair

    session.expire_all()
    assert broken.started_at == right
    assert broken.ended_at == right + timedelta(seconds=118)
    assert broken.updated_at == now  # the warehouse export sends it again
    assert vapi.started_at == right
    assert event.occurred_at == datetime(2026, 1, 1, 0, 3, 20, tzinfo=UTC)


def test_stored_days_without_miles_lose_their_score(session: Session):
    """Issue 21.3: days the old release scored 100 with no miles are not scored any more."""
    from models.report import DriverReport

    fix = _migration("driver_report_score_withheld")
    driver = make_driver(session)
    base = {
        "driver_id": driver.id,
        "timezone": "America/Chicago",
        "window_start": datetime(2026, 3, 10, 5, tzinfo=UTC),
        "window_end": datetime(2026, 3, 11, 5, tzinfo=UTC),
        "generated_at": datetime(2026, 3, 11, 6, tzinfo=UTC),
    }
    drove = DriverReport(
        **base, report_date=date(2026, 3, 10), drive_hours=11.0, safety_score=100.0, trend_7d=0.0
    )
    off = DriverReport(**base, report_date=date(2026, 3, 9), safety_score=100.0)
    measured = DriverReport(
        **base,
        report_date=date(2026, 3, 8),
        miles=420.0,
        miles_source="positions",
        safety_score=90.0,
    )
    session.add_all([drove, off, measured])
    session.flush()
    now = datetime(2026, 12, 6, tzinfo=UTC)

    assert fix.withhold_unmeasured_days(session.connection(), now=now) == 2

    session.expire_all()
    assert (drove.safety_score, drove.trend_7d, drove.generated_at) == (None, None, now)
    assert "drive hours" in drove.score_withheld_reason
    assert off.safety_score is None and off.score_withheld_reason is not None
    assert (measured.safety_score, measured.score_withheld_reason) == (90.0, None)
