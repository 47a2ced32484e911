"""Routing budget: cached routes advance with the truck; re-route on a corridor exit, a stop
change or age (only once the truck moved); the vendor request counter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from config import Settings
from logic.alerts import engine
from logic.trips.route_cache import (
    CLAIM_LEASE,
    CachedRoute,
    advance,
    refresh_routes,
    stops_key,
    why_reroute,
)
from models.trip import Trip, TripStatus
from models.vendor_cache import TripRoute
from tests.factories import make_driver, make_location, make_trip, make_vehicle
from utils.http import VendorTransientError
from utils.pcmiler_client import build_pcmiler_client

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
MEMPHIS = (35.1495, -90.049)
DALLAS = (32.7767, -96.797)
AGE = timedelta(minutes=30)


def route(fetched_at=NOW) -> CachedRoute:
    key = stops_key([(7, *DALLAS)])
    return CachedRoute(1, key, *MEMPHIS, *DALLAS, (450.0,), fetched_at)


def along(fraction: float, *, north_miles: float = 0.0) -> tuple[float, float]:
    lat = MEMPHIS[0] + (DALLAS[0] - MEMPHIS[0]) * fraction + north_miles / 69.09
    return lat, MEMPHIS[1] + (DALLAS[1] - MEMPHIS[1]) * fraction


def why(cached, truck, now=NOW, key=None):
    key = key or stops_key([(7, *DALLAS)])
    return why_reroute(cached, key, truck, now, max_age=AGE, corridor_miles=15)


def test_reroute_only_after_leaving_the_corridor() -> None:
    assert why(None, MEMPHIS) == "new"
    assert why(route(), along(0.4)) is None
    assert why(route(), along(0.4, north_miles=10)) is None
    assert why(route(), along(0.4, north_miles=20)) == "off_corridor"


def test_a_changed_stop_reroutes() -> None:
    assert why(route(), along(0.1), key=stops_key([(8, *DALLAS)])) == "stops_changed"


def test_an_old_route_is_refreshed_only_once_the_truck_moved() -> None:
    old = route(fetched_at=NOW - timedelta(minutes=31))
    assert why(old, MEMPHIS) is None  # parked or resting: the route still holds
    assert why(old, along(0.2)) == "aged"
    assert why(route(fetched_at=NOW - timedelta(minutes=29)), along(0.2)) is None


def test_progress_along_the_route_shrinks_the_first_leg() -> None:
    assert advance(route(), along(0.5)) == pytest.approx([225.0], rel=1e-3)
    assert advance(route(), along(1.2)) == [0.0]


def pcmiler_requests() -> float:
    return REGISTRY.get_sample_value("fleet_vendor_requests_total", {"vendor": "pcmiler"}) or 0.0


def test_passes_route_once_then_advance_until_the_truck_leaves_the_corridor(session, sandbox_clean):
    truck = make_vehicle(session)
    trip = make_trip(
        session,
        driver=make_driver(session),
        vehicle=truck,
        status=TripStatus.IN_TRANSIT,
        stops=[{"latitude": DALLAS[0], "longitude": DALLAS[1]}],
    )
    pcmiler = build_pcmiler_client(Settings(**sandbox_clean.settings_env()), retry_wait=0)

    def pass_at(minutes: int, point) -> engine.EvaluationResult:
        at = NOW + timedelta(minutes=minutes)
        make_location(session, vehicle=truck, recorded_at=at, latitude=point[0], longitude=point[1])
        return engine.run_evaluation(now=at, pcmiler=pcmiler)

    before = pcmiler_requests()
    first = pass_at(0, MEMPHIS)
    assert first.routing == {"advanced": 0, "wanted": 1, "requested": 1}
    assert len(sandbox_clean.requests("pcmiler")) == 1
    assert pcmiler_requests() - before == 1
    stored = session.scalars(select(TripRoute).where(TripRoute.trip_id == trip.id)).one()
    full = stored.leg_miles[0]

    for minute, fraction in ((2, 0.1), (4, 0.2), (6, 0.3)):
        result = pass_at(minute, along(fraction))
        assert result.routing == {"advanced": 1, "wanted": 0, "requested": 0}
    session.expire_all()
    eta = session.get(Trip, trip.id).eta_next_stop - (NOW + timedelta(minutes=6))
    assert eta.total_seconds() / 3600 == pytest.approx(full * 0.7 / 50, rel=0.01)
    assert len(sandbox_clean.requests("pcmiler")) == 1

    detour = pass_at(8, along(0.35, north_miles=30))
    assert detour.routing["wanted"] == 1 and detour.routing["requested"] == 1
    assert len(sandbox_clean.requests("pcmiler")) == 2
    assert pcmiler_requests() - before == 2


def _truck_in_memphis_bound_for_dallas(session, sandbox):
    """A trip in transit whose truck was last seen in Memphis at NOW; the sandbox's PC*MILER."""
    truck = make_vehicle(session)
    make_trip(
        session,
        driver=make_driver(session),
        vehicle=truck,
        status=TripStatus.IN_TRANSIT,
        stops=[{"latitude": DALLAS[0], "longitude": DALLAS[1]}],
    )
    make_location(
        session, vehicle=truck, recorded_at=NOW, latitude=MEMPHIS[0], longitude=MEMPHIS[1]
    )
    return build_pcmiler_client(Settings(**sandbox.settings_env()), retry_wait=0)


def test_a_route_another_pass_fetched_meanwhile_is_not_fetched_again(session, sandbox_clean):
    pcmiler = _truck_in_memphis_bound_for_dallas(session, sandbox_clean)
    first = engine.evaluate(session, now=NOW)
    second = engine.evaluate(session, now=NOW)  # a concurrent pass: it saw no route either
    assert len(first.routes_wanted) == len(second.routes_wanted) == 1

    assert len(refresh_routes(pcmiler, first.routes_wanted, now=NOW)) == 1
    assert refresh_routes(pcmiler, second.routes_wanted, now=NOW) == []
    assert len(sandbox_clean.requests("pcmiler")) == 1


def test_two_passes_refreshing_at_once_ask_pcmiler_once_per_route(session, sandbox_clean):
    """Measured on `make run`: the scheduler's pass and the ingest hook's pass judged the same
    aged routes at the same second and both fetched them (28 requests for 14 trucks)."""
    pcmiler = _truck_in_memphis_bound_for_dallas(session, sandbox_clean)
    first = engine.evaluate(session, now=NOW)
    second = engine.evaluate(session, now=NOW)
    inner: list[list[CachedRoute]] = []

    class SecondPassDuringTheFirstRequest:
        """The second pass runs while the first one waits for PC*MILER."""

        def mileage(self, points):
            inner.append(refresh_routes(pcmiler, second.routes_wanted, now=NOW))
            return pcmiler.mileage(points)

    assert len(refresh_routes(SecondPassDuringTheFirstRequest(), first.routes_wanted, now=NOW)) == 1
    assert inner == [[]]
    assert len(sandbox_clean.requests("pcmiler")) == 1


def test_a_claim_left_by_a_failed_pass_is_taken_over_after_its_lease(session, sandbox_clean):
    pcmiler = _truck_in_memphis_bound_for_dallas(session, sandbox_clean)
    wanted = engine.evaluate(session, now=NOW).routes_wanted

    class Down:
        def mileage(self, points):
            raise VendorTransientError("pcmiler", "HTTP 503")

    assert refresh_routes(Down(), wanted, now=NOW) == []
    held = NOW + CLAIM_LEASE - timedelta(seconds=1)
    assert refresh_routes(pcmiler, wanted, now=held) == []
    assert sandbox_clean.requests("pcmiler") == []
    assert len(refresh_routes(pcmiler, wanted, now=NOW + CLAIM_LEASE)) == 1
    assert len(sandbox_clean.requests("pcmiler")) == 1
