"""`drivers_data`: a batch's prompt data, read together, is each driver's `driver_data`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from logic.fleet.driver_data import RECENT_LIMIT, driver_data, drivers_data
from models.trip import TripStatus
from tests.factories import (
    make_driver,
    make_hos_clock,
    make_safety_event,
    make_trip,
    make_violation,
)

NOW = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)


def test_batch_matches_one_driver_at_a_time(session) -> None:
    busy, dispatched, idle = make_driver(session), make_driver(session), make_driver(session)
    make_trip(session, driver=busy, status=TripStatus.DISPATCHED, scheduled_start=NOW)
    in_transit = make_trip(
        session, driver=busy, status=TripStatus.IN_TRANSIT, scheduled_start=NOW - timedelta(days=1)
    )
    make_trip(session, driver=dispatched, status=TripStatus.DISPATCHED, scheduled_start=NOW)
    later = make_trip(
        session,
        driver=dispatched,
        status=TripStatus.DISPATCHED,
        scheduled_start=NOW + timedelta(hours=5),
    )
    make_hos_clock(session, driver=busy, drive_remaining_minutes=45)
    for hours in range(RECENT_LIMIT + 2):
        make_violation(session, driver=busy, started_at=NOW - timedelta(hours=hours))
        make_safety_event(session, driver=dispatched, occurred_at=NOW - timedelta(hours=hours))
    make_violation(session, driver=dispatched, started_at=NOW - timedelta(days=45))

    batch = drivers_data(session, [busy, dispatched, idle], now=NOW)

    assert list(batch) == [busy.id, dispatched.id, idle.id]
    for driver in (busy, dispatched, idle):
        alone = driver_data(session, driver.id, now=NOW)
        assert batch[driver.id].model_dump() == alone.model_dump()
    assert batch[busy.id].current_trip.id == in_transit.id
    assert batch[dispatched.id].current_trip.id == later.id
    assert batch[busy.id].hos_clock.drive_remaining_minutes == 45
    newest = [v.started_at for v in batch[busy.id].recent_violations]
    assert len(newest) == RECENT_LIMIT and newest == sorted(newest, reverse=True)
    assert newest[0] == NOW
    assert len(batch[dispatched.id].recent_safety_events) == RECENT_LIMIT
    assert batch[dispatched.id].recent_violations == []  # 45 days old: outside the window
    assert batch[idle.id].current_trip is None and batch[idle.id].hos_clock is None


def test_statements_do_not_grow_with_the_batch(session, query_counter) -> None:
    drivers = [make_driver(session) for _ in range(6)]
    for driver in drivers:
        make_violation(session, driver=driver, started_at=NOW - timedelta(hours=1))
    session.flush()

    query_counter.reset()
    drivers_data(session, drivers[:1], now=NOW)
    one = query_counter.count
    query_counter.reset()
    drivers_data(session, drivers, now=NOW)

    assert query_counter.count == one == 4  # trips, clocks, violations, safety events
