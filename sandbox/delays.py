"""Make a truck's load late in the simulated world (`POST /_sandbox/fleet/delay`).

A delay of m minutes holds the truck where it was m minutes ago (never before the last arrival or
departure of its load, which Ditat already reported), and everything it was to do after that —
driving, rests, arrivals and departures, safety events, violations — happens m minutes later. So
from the next read on, Samsara's GPS shows it m minutes behind its plan (the feeds already served
the old points of that span; the held span reads as parked from now on) and its HOS clocks count
the hold off duty; Ditat's stops arrive later. The load under way keeps its appointment windows,
so it runs late; loads not yet started move with the truck (dispatch re-books them).

Deterministic: a delay is (truck, start, length, the horizon the timelines were generated to),
and a timeline depends only on how far it was generated, so replaying the delays in order at
their horizons (after a restart: sandbox/persistence.py) rebuilds the same world.
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.simulator import (
    DRIVING,
    HOUR,
    METERS_PER_MILE,
    OFF_DUTY,
    ON_DUTY,
    Activity,
    Simulator,
    Trip,
    Vehicle,
)


class NoLoadUnderWay(ValueError):
    """The truck has no load with a stop still ahead."""


@dataclass(frozen=True)
class Delay:
    vehicle_id: str
    at: float  # epoch seconds: the hold begins
    seconds: float
    horizon: float  # Simulator.horizon when it was applied

    def export(self) -> dict[str, Any]:
        return asdict(self)


def load_under_way(sim: Simulator, vehicle: Vehicle, now: datetime) -> Trip | None:
    """The truck's load at `now` with a stop still ahead (at its pickup or on the road)."""
    return next(
        (t for t in sim.plan(vehicle).trips if t.start <= now < t.stops[-1].arrived_at), None
    )


def delay_truck(sim: Simulator, vehicle: Vehicle, minutes: float) -> tuple[Delay, Trip]:
    """Hold `vehicle` for `minutes` from `minutes` ago (see the module docstring)."""
    now = sim.now()
    trip = load_under_way(sim, vehicle, now)
    if trip is None:
        raise NoLoadUnderWay(f"truck {vehicle.unit} has no load with a stop ahead")
    # What Ditat already reported stays true: the hold starts after the load's last stop event.
    reported = [t for s in trip.stops for t in (s.arrived_at, s.departed_at) if t <= now]
    at = max([now - timedelta(minutes=minutes), *reported])
    delay = Delay(vehicle.samsara_id, round(at.timestamp(), 3), minutes * 60.0, sim.horizon)
    apply(sim, delay)
    return delay, trip


def apply(sim: Simulator, delay: Delay) -> None:
    vehicle = sim.vehicle(delay.vehicle_id)
    if vehicle is None:
        raise ValueError(f"no vehicle {delay.vehicle_id}")
    sim.extend_horizon(delay.horizon)
    _hold(sim.plan(vehicle), delay.at, delay.seconds)
    sim.delays.append(delay)


def replay(sim: Simulator, stored: list[dict[str, Any]]) -> int:
    """Apply stored delays (`Delay.export()`) in order; returns how many."""
    for item in stored:
        apply(sim, Delay(**item))
    return len(stored)


def _where(act: Activity, at: float) -> tuple[tuple[float, float], float, float]:
    """(point, odometer, fraction of the lane) of the truck at `at` inside `act`."""
    if act.status != DRIVING or act.trip is None:
        return act.point, act.odometer_m, act.frac0
    span = max(act.end - act.start, 1.0)
    frac = act.frac0 + (act.frac1 - act.frac0) * (at - act.start) / span
    odometer = act.odometer_m + (at - act.start) / HOUR * act.speed_mph * METERS_PER_MILE
    a, b = act.trip.origin, act.trip.destination
    point = (a.lat + (b.lat - a.lat) * frac, a.lon + (b.lon - a.lon) * frac)
    return point, odometer, frac


def _hold(plan: Any, at: float, seconds: float) -> None:
    """Insert a stationary `seconds` at `at` into one truck's plan (a `_TruckPlan`) and move
    everything after it. New lists and objects are swapped in rather than edited in place, so
    a request reading the plan meanwhile sees the old timeline or the new one."""
    acts: list[Activity] = plan.activities
    i = max(0, bisect.bisect_right(plan.starts, at) - 1)
    current = acts[i]
    point, odometer, frac = _where(current, at)
    kept = acts[:i]
    later = [replace(a, start=a.start + seconds, end=a.end + seconds) for a in acts[i + 1 :]]
    tail = replace(current, start=at + seconds, end=current.end + seconds)
    if current.start < at:
        kept.append(replace(current, end=at, frac1=frac))
        tail = replace(tail, point=point, odometer_m=odometer, frac0=frac)
    later.insert(0, tail)
    # Held on the road or at the dock: logged off duty (as `_TruckPlan._held` does); a rest
    # under way simply lasts longer.
    status = OFF_DUTY if current.status in (DRIVING, ON_DUTY) else current.status
    held = Activity(at, at + seconds, status, point, trip=current.trip, odometer_m=odometer)
    activities = [*kept, held, *later]
    plan.starts, plan.activities = [a.start for a in activities], activities

    def later_ts(ts: float) -> float:
        return ts + seconds if ts > at else ts

    delta = timedelta(seconds=seconds)
    when = datetime.fromtimestamp(at, UTC)

    def later_dt(dt: datetime) -> datetime:
        return dt + delta if dt > when else dt

    plan.t += seconds
    plan.shift_start = later_ts(plan.shift_start)
    plan.shift_starts = [later_ts(t) for t in plan.shift_starts]
    plan.restarts = [later_ts(t) for t in plan.restarts]
    plan.events = [replace(e, time=later_dt(e.time)) for e in plan.events]
    plan.violations = [replace(v, start=later_dt(v.start)) for v in plan.violations]
    for trip in plan.trips:
        rebooked = trip.start > when
        trip.stops = [
            replace(
                s,
                arrived_at=later_dt(s.arrived_at),
                departed_at=later_dt(s.departed_at),
                appointment_from=s.appointment_from + delta if rebooked else s.appointment_from,
                appointment_to=s.appointment_to + delta if rebooked else s.appointment_to,
            )
            for s in trip.stops
        ]
