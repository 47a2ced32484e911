"""Samsara ingest against the sandbox over HTTP: every entity, idempotence, resume, faults."""

from __future__ import annotations

import sys

import pytest
from sqlmodel import Session, delete, select

from logic.ingest import samsara
from logic.ingest.jobs import entities_of, run_ingest, start_ingest
from models.hos import HosClock
from models.ingest import IngestCursor
from models.location import VehicleLocation
from models.vehicle import Vehicle
from tests.ingest_support import counts, fleet_fixture  # noqa: F401


class Crash(Exception):
    """Stands in for the process dying right after a page was committed."""


def _crash_after(pages: int):
    def on_page(run) -> None:
        if run.pages >= pages:
            raise Crash(f"killed after {pages} pages")

    return on_page


def test_full_ingest_then_second_run_inserts_nothing(session: Session, fleet) -> None:
    first = [run_ingest("samsara", entity) for entity in entities_of("samsara")]
    assert [r.status for r in first] == ["succeeded"] * len(first), [r.error for r in first]
    after_first = counts(session)
    for table in ("vehicle", "driver", "vehicle_location", "hos_clock", "hos_log", "safety_event"):
        assert after_first[table] > 0, table

    second = [run_ingest("samsara", entity) for entity in entities_of("samsara")]
    assert {r.entity: r.inserted for r in second} == {e: 0 for e in entities_of("samsara")}
    assert counts(session) == after_first
    by_entity = {r.entity: r for r in second}
    assert by_entity["vehicles"].unchanged == by_entity["vehicles"].fetched
    assert by_entity["locations"].cursor_before == first[2].cursor_after


def test_units_are_converted(session: Session, fleet) -> None:
    run_ingest("samsara", "hos-clocks")
    raw = fleet._http.get(
        "/samsara/fleet/hos/clocks", headers={"Authorization": "Bearer sandbox-samsara-token"}
    ).json()["data"][0]
    clock = session.exec(select(HosClock)).first()
    drive_ms = raw["clocks"]["drive"]["driveRemainingDurationMs"]
    assert clock.drive_remaining_minutes == drive_ms // 60_000


def test_location_feed_resumes_after_a_crash_with_identical_counts(session: Session, fleet) -> None:
    clean = run_ingest("samsara", "locations")
    assert clean.pages >= 3
    total = counts(session)["vehicle_location"]
    session.exec(delete(VehicleLocation))
    session.exec(delete(IngestCursor))
    session.commit()

    crashed = start_ingest("samsara", "locations", on_page=_crash_after(1)).run()
    assert crashed.status == "failed" and "killed after 1 pages" in crashed.error
    session.expire_all()
    cursor = IngestCursor.get_for(session, "samsara", "locations").cursor
    assert cursor == crashed.cursor_after and cursor is not None
    partial = counts(session)["vehicle_location"]
    assert 0 < partial < total

    requests_before = len(fleet.requests("samsara"))
    resumed = run_ingest("samsara", "locations")
    assert resumed.status == "succeeded" and resumed.cursor_before == cursor
    first_request = fleet.requests("samsara")[requests_before]
    assert first_request["query"]["after"] == cursor
    assert resumed.inserted == total - partial
    assert counts(session)["vehicle_location"] == total
    assert run_ingest("samsara", "locations").inserted == 0


def test_rate_limit_and_server_error_storms_are_absorbed(session: Session, fleet) -> None:
    fleet.fault("samsara", "429", count=2, retry_after=0.01)
    assert run_ingest("samsara", "vehicles").status == "succeeded"
    fleet.fault("samsara", "5xx", count=2)
    run = run_ingest("samsara", "drivers")
    assert run.status == "succeeded" and run.inserted == counts(session)["driver"]
    # vehicles: 1 page + 2 retried 429s; drivers: 2 pages (active, deactivated) + 2 retried 5xx
    assert len(fleet.requests("samsara")) == 7


def test_malformed_page_fails_the_run_and_keeps_previous_data(session: Session, fleet) -> None:
    assert run_ingest("samsara", "vehicles").status == "succeeded"
    before = counts(session)
    names = sorted(session.exec(select(Vehicle.unit_number)).all())
    fleet.fault("samsara", "malformed", count=3)  # outlasts the client's three attempts

    failed = run_ingest("samsara", "vehicles")

    assert failed.status == "failed"
    assert "samsara" in failed.error and "malformed" in failed.error.lower()
    assert failed.finished_at is not None and failed.pages == 0
    assert counts(session) == before
    assert sorted(session.exec(select(Vehicle.unit_number)).all()) == names
    assert run_ingest("samsara", "vehicles").status == "succeeded"


@pytest.mark.parametrize("entity", ["hos-logs", "safety-events"])
def test_windowed_entities_resume_with_overlap(session: Session, fleet, entity: str) -> None:
    first = run_ingest("samsara", entity)
    assert first.status == "succeeded" and first.cursor_after
    requests_before = len(fleet.requests("samsara"))
    second = run_ingest("samsara", entity)
    assert second.inserted == 0 and second.cursor_before == first.cursor_after
    windows = fleet.requests("samsara")[requests_before:]
    # One day back from the cursor (aligned to midnight), not the whole first-run week.
    assert 1 <= len(windows) <= 3
    assert windows[0]["query"]["startTime"] < first.cursor_after


def test_prefetch_shortens_the_switch_interval_only_while_it_runs() -> None:
    before = sys.getswitchinterval()
    seen = [(page, sys.getswitchinterval()) for page in samsara.prefetch(iter(range(3)))]
    assert seen == [(i, samsara.PREFETCH_SWITCH_INTERVAL) for i in range(3)]
    assert sys.getswitchinterval() == before

    def failing():
        yield 1
        raise RuntimeError("vendor down")

    with pytest.raises(RuntimeError, match="vendor down"):
        list(samsara.prefetch(failing()))
    assert sys.getswitchinterval() == before
