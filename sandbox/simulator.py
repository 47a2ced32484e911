"""A deterministic fleet: trucks, drivers, trailers and Ditat trips on real US lanes, from a seed.

Everything is a pure function of (seed, fleet size, start, history) and the time asked about, so
the same seed gives the same fleet and a test can freeze the clock. Each truck follows a timeline
of duty-status activities generated under the US HOS rules (11 h driving, 14 h shift, 30 min break
after 8 h driving, 10 h rest); a few drivers break them (HOS violations; at the fleet's start they
are loading or unloading at a dock, one of them minutes from his receiver, so a campaign over
them can call them all), a few trips miss their delivery appointment, about one stop in four
holds the truck past its free time (detention), and driving produces occasional harsh-braking
and speeding events.

Links between the two vendors (what ingest matches on):
- Samsara vehicle `name` == Ditat `truckId` (the unit number, e.g. "101"); the vehicle's
  `externalIds` also carry `ditatTruckId`.
- Samsara driver `externalIds.ditatDriverId` == Ditat `driverId` (e.g. "JSMITH01").
"""

from __future__ import annotations

import bisect
import math
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING

from sandbox.lanes import CITIES, City, bearing_degrees, great_circle_miles, lanes_from, road_miles

if TYPE_CHECKING:
    from sandbox.delays import Delay

Clock = Callable[[], datetime]

HOUR = 3600.0
MAX_DRIVE_S = 11 * HOUR
MAX_SHIFT_S = 14 * HOUR
BREAK_AFTER_S = 8 * HOUR
BREAK_S = 0.5 * HOUR
REST_S = 10 * HOUR
RESTART_S = 34 * HOUR
CYCLE_S = 70 * HOUR
CYCLE_WINDOW_S = 8 * 24 * HOUR
METERS_PER_MILE = 1609.344

DRIVING, ON_DUTY, OFF_DUTY, SLEEPER = "driving", "onDuty", "offDuty", "sleeperBed"

_FIRST = (
    "James",
    "Maria",
    "Robert",
    "Linda",
    "Michael",
    "Patricia",
    "David",
    "Jennifer",
    "Carlos",
    "Elizabeth",
    "William",
    "Susan",
    "Jose",
    "Karen",
    "Thomas",
    "Nancy",
    "Daniel",
    "Lisa",
    "Anthony",
    "Betty",
    "Marcus",
    "Angela",
    "Kevin",
    "Tanya",
    "Brian",
    "Rosa",
    "Terrell",
    "Denise",
    "Luis",
    "Sharon",
    "Gary",
    "Keisha",
    "Raymond",
    "Olga",
    "Dwayne",
    "Heather",
)
_LAST = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Nelson",
    "Carter",
    "Reed",
)
_TRUCKS = (
    ("Freightliner", "Cascadia"),
    ("Kenworth", "T680"),
    ("Peterbilt", "579"),
    ("Volvo", "VNL 860"),
    ("International", "LT625"),
    ("Mack", "Anthem"),
)
_CUSTOMERS = (
    "Acme Foods",
    "Blue Ridge Paper",
    "Lone Star Plastics",
    "Great Lakes Steel",
    "Pacific Produce",
    "Summit Home Goods",
    "Delta Beverages",
    "Prairie Grain Co",
)
_COMMODITIES = (
    "Dry groceries",
    "Paper rolls",
    "Plastic resin",
    "Steel coils",
    "Produce",
    "Furniture",
    "Beverages",
    "Packaged grain",
)
_AREA_CODES = {
    "GA": "404",
    "NC": "704",
    "FL": "904",
    "VA": "804",
    "PA": "717",
    "NJ": "973",
    "OH": "614",
    "IN": "317",
    "KY": "502",
    "TN": "615",
    "IL": "312",
    "MO": "314",
    "MN": "612",
    "NE": "402",
    "TX": "214",
    "OK": "405",
    "LA": "504",
    "CO": "303",
    "NM": "505",
    "UT": "801",
    "AZ": "602",
    "NV": "702",
    "CA": "213",
    "OR": "503",
    "WA": "206",
}
_VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def wall_clock() -> datetime:
    return datetime.now(UTC)


def history_hours_from_env() -> float:
    return float(os.environ.get("SANDBOX_HISTORY_HOURS", "4"))


def fleet_size_from_env() -> int:
    return int(os.environ.get("SANDBOX_FLEET_SIZE", "25"))


def seed_from_env() -> int:
    return int(os.environ.get("SANDBOX_SEED", "42"))


@dataclass
class Driver:
    index: int
    samsara_id: str
    ditat_id: str
    first_name: str
    last_name: str
    phone: str
    email: str
    timezone: str
    license_number: str
    license_state: str
    home: City
    active: bool = True
    violator: bool = False
    app_disconnected: bool = False

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def username(self) -> str:
        return self.ditat_id.lower()


@dataclass
class Trailer:
    trailer_id: str
    trailer_key: int
    kind: str
    plate: str
    year: str


@dataclass
class Vehicle:
    index: int
    samsara_id: str
    unit: str
    truck_key: int
    vin: str
    make: str
    model: str
    year: str
    plate: str
    plate_state: str
    serial: str
    odometer_start_m: float
    driver: Driver
    trailer: Trailer
    gps_lost_at: datetime | None = None


@dataclass
class Stop:
    stop_key: int
    sequence: int
    stop_type: str  # "Pickup" | "Delivery"
    city: City
    appointment_from: datetime
    appointment_to: datetime
    arrived_at: datetime
    departed_at: datetime

    @property
    def on_time(self) -> bool:
        return self.arrived_at <= self.appointment_to


@dataclass
class Trip:
    trip_key: int
    trip_id: str
    shipment_key: int
    shipment_id: str
    vehicle: Vehicle
    origin: City
    destination: City
    miles: float
    customer: str
    commodity: str
    weight_lbs: int
    pieces: int
    revenue: float
    stops: list[Stop] = field(default_factory=list)
    late: bool = False

    @property
    def start(self) -> datetime:
        return self.stops[0].arrived_at

    @property
    def end(self) -> datetime:
        return self.stops[-1].departed_at

    def status_at(self, t: datetime) -> str:
        pickup, delivery = self.stops[0], self.stops[-1]
        if t < pickup.arrived_at:
            return "Planned"
        if t < pickup.departed_at:
            return "AtPickup"
        if t < delivery.arrived_at:
            return "InTransit"
        if t < delivery.departed_at:
            return "AtDelivery"
        return "Delivered"


@dataclass
class Activity:
    """One duty-status interval of a truck; while driving, the truck moves from `frac0` to `frac1`
    of the straight line `origin → destination` of `trip` (or sits at `point` otherwise)."""

    start: float  # epoch seconds
    end: float
    status: str
    point: tuple[float, float]
    trip: Trip | None = None
    frac0: float = 0.0
    frac1: float = 0.0
    speed_mph: float = 0.0
    odometer_m: float = 0.0  # at `start`


@dataclass
class SafetyEvent:
    event_id: str
    legacy_id: str
    vehicle: Vehicle
    time: datetime
    label: str  # a Samsara behavior label: "braking" | "speeding"
    latitude: float
    longitude: float
    heading: float
    max_g: float
    speed_kph: float
    limit_kph: float


@dataclass
class HosViolation:
    driver: Driver
    kind: str
    description: str
    start: datetime
    duration_s: float


@dataclass
class Position:
    time: datetime
    latitude: float
    longitude: float
    heading: float
    speed_mph: float
    odometer_m: float
    status: str
    place: str

    @property
    def engine_state(self) -> str:
        return {DRIVING: "On", ON_DUTY: "Idle"}.get(self.status, "Off")

    @property
    def fuel_percent(self) -> int:
        # A tank that drains over ~1,000 miles and is refilled: a sawtooth between 15 and 100.
        miles = self.odometer_m / METERS_PER_MILE
        return int(100 - (miles % 1000) / 1000 * 85)


def _ts(dt: datetime) -> float:
    return dt.timestamp()


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(round(ts, 3), UTC)


class _TruckPlan:
    """Generates one truck's timeline lazily; resumable so a running sandbox keeps extending it."""

    def __init__(self, sim: Simulator, vehicle: Vehicle, begin: float) -> None:
        self.sim = sim
        self.vehicle = vehicle
        self.rng = random.Random(f"{sim.seed}:plan:{vehicle.index}")
        self.activities: list[Activity] = []
        self.starts: list[float] = []
        self.trips: list[Trip] = []
        self.events: list[SafetyEvent] = []
        self.violations: list[HosViolation] = []
        self.shift_starts: list[float] = [begin]
        self.t = begin
        self.location = vehicle.driver.home
        self.odometer = vehicle.odometer_start_m
        self.drive_in_shift = 0.0
        self.drive_since_break = 0.0
        self.shift_start = begin
        self.extra_drive = 0.0  # a violator's allowance beyond 11 h in this shift
        self.violated_this_shift = False
        self.trip_count = 0
        self.restarts: list[float] = [begin]
        self.hold_at: float | None = None  # a delivery arrival to hold (the demo truck)

    def cycle_start(self, at: float) -> float:
        """Where the 70 h/8 day window begins at `at`: 8 days back, or the last 34 h restart."""
        last_restart = self.restarts[max(0, bisect.bisect_right(self.restarts, at) - 1)]
        return max(at - CYCLE_WINDOW_S, last_restart)

    def _cycle_used(self, at: float) -> float:
        since = self.cycle_start(at)
        used = 0.0
        for act in reversed(self.activities):
            if act.end <= since:
                break
            if act.start < at and act.status in (DRIVING, ON_DUTY):
                used += min(act.end, at) - max(act.start, since)
        return used

    def _add(self, end: float, status: str, **kw) -> None:
        if end <= self.t:
            return
        if status in (OFF_DUTY, SLEEPER) and end - self.t >= REST_S:
            self.shift_starts.append(end)
        act = Activity(start=self.t, end=end, status=status, odometer_m=self.odometer, **kw)
        self.activities.append(act)
        self.starts.append(act.start)
        self.t = end

    def _rest(self, point: tuple[float, float] | None = None) -> None:
        """A 10 h+ rest that resets the shift; a violator sometimes plans to overrun the next."""
        here = point or (self.location.lat, self.location.lon)
        if self._cycle_used(self.t) > CYCLE_S - 10 * HOUR:
            # Near the 70 h/8 day limit: take the 34 h restart, which resets the cycle.
            self._add(self.t + RESTART_S + self.rng.uniform(0, 2 * HOUR), OFF_DUTY, point=here)
            self.restarts.append(self.t)
        else:
            self._add(self.t + REST_S + self.rng.uniform(0, 1.5 * HOUR), SLEEPER, point=here)
        self.shift_start = self.t
        self.drive_in_shift = 0.0
        self.drive_since_break = 0.0
        self.violated_this_shift = False
        self.extra_drive = (
            self.rng.uniform(0.3, 1.0) * HOUR
            if self.vehicle.driver.violator and self.rng.random() < 0.5
            else 0.0
        )

    def _held(self, hours: float, point: tuple[float, float], trip: Trip) -> bool:
        """Waiting at the dock before loading or unloading (logged off duty, as drivers held
        for detention usually are, so it does not burn the 14-hour window)."""
        if hours <= 0:
            return False
        self._add(self.t + hours * HOUR, OFF_DUTY, point=point, trip=trip)
        return True

    def _on_duty(self, seconds: float, point: tuple[float, float], trip: Trip | None) -> None:
        if self.t + seconds - self.shift_start > MAX_SHIFT_S:
            self._rest()
        self._add(self.t + seconds, ON_DUTY, point=point, trip=trip)

    def _drive(self, trip: Trip) -> None:
        """Drive the trip's lane under the HOS rules (a violator may overrun the 11 h limit)."""
        origin, dest = trip.origin, trip.destination
        frac = 0.0
        while frac < 1.0 - 1e-9:
            drive_limit = MAX_DRIVE_S + self.extra_drive - self.drive_in_shift
            window = min(
                drive_limit,
                BREAK_AFTER_S - self.drive_since_break,
                MAX_SHIFT_S + self.extra_drive - (self.t - self.shift_start),
            )
            if window <= 60:
                if self.drive_since_break >= BREAK_AFTER_S - 60 and drive_limit > HOUR:
                    pos = _lerp(origin, dest, frac)
                    self._add(self.t + BREAK_S, OFF_DUTY, point=pos)
                    self.drive_since_break = 0.0
                else:
                    self._rest(_lerp(origin, dest, frac))
                continue
            speed = self.rng.uniform(52.0, 63.0)
            remaining_s = (1.0 - frac) * trip.miles / speed * HOUR
            chunk = min(window, remaining_s, self.rng.uniform(1.5, 3.5) * HOUR)
            new_frac = min(1.0, frac + chunk * speed / HOUR / trip.miles)
            start = self.t
            before = self.drive_in_shift
            self._add(
                self.t + chunk,
                DRIVING,
                point=_lerp(origin, dest, frac),
                trip=trip,
                frac0=frac,
                frac1=new_frac,
                speed_mph=speed,
            )
            self.odometer += chunk * speed / HOUR * METERS_PER_MILE
            self.drive_in_shift += chunk
            self.drive_since_break += chunk
            frac = new_frac
            if self.drive_in_shift > MAX_DRIVE_S and not self.violated_this_shift:
                self.violated_this_shift = True
                crossed = start + max(0.0, MAX_DRIVE_S - before)
                self.violations.append(
                    HosViolation(
                        self.vehicle.driver,
                        "shiftDrivingHours",
                        "Shift Driving Limit (11 hours)",
                        _dt(crossed),
                        self.drive_in_shift - MAX_DRIVE_S,
                    )
                )
            self._safety_events(self.activities[-1])

    def _safety_events(self, act: Activity) -> None:
        hours = (act.end - act.start) / HOUR
        for _ in range(max(1, int(hours))):
            roll = self.rng.random()
            if roll >= 0.09:
                continue
            label = "braking" if roll < 0.05 else "speeding"
            at = self.rng.uniform(act.start, act.end)
            pos = self.sim._position_in(self.vehicle, act, at)
            limit_mph = 65.0
            speed = pos.speed_mph if label == "braking" else self.rng.uniform(74.0, 86.0)
            self.events.append(
                SafetyEvent(
                    event_id=_uuid(self.rng),
                    legacy_id=f"{self.vehicle.samsara_id}-{int(at * 1000)}",
                    vehicle=self.vehicle,
                    time=_dt(at),
                    label=label,
                    latitude=pos.latitude,
                    longitude=pos.longitude,
                    heading=pos.heading,
                    max_g=round(self.rng.uniform(0.42, 0.75), 2) if label == "braking" else 0.1,
                    speed_kph=round(speed * 1.609344, 1),
                    limit_kph=round(limit_mph * 1.609344, 1),
                )
            )

    def _next_trip(self) -> None:
        rng = self.rng
        origin = self.location
        dest = rng.choice(lanes_from(origin))
        # Numbered per truck so ids never depend on the order trucks were generated in.
        self.trip_count += 1
        n = (self.vehicle.index + 1) * 10000 + self.trip_count
        miles = road_miles(origin, dest)
        trip = Trip(
            trip_key=n,
            trip_id=f"TR-{n:07d}",
            shipment_key=500000 + n,
            shipment_id=f"SH-{n:010d}",
            vehicle=self.vehicle,
            origin=origin,
            destination=dest,
            miles=round(miles, 1),
            customer=rng.choice(_CUSTOMERS),
            commodity=rng.choice(_COMMODITIES),
            weight_lbs=rng.randrange(18000, 44000, 500),
            pieces=rng.randrange(10, 26),
            revenue=round(miles * rng.uniform(2.1, 3.2), 2),
            late=rng.random() < 0.2,
        )
        here = (origin.lat, origin.lon)
        pickup_arrival = self.t
        held = self._held(_held_hours(n, 1), here, trip)
        self._on_duty(rng.uniform(0.75, 1.75) * HOUR, here, trip)
        pickup_departure = self.t
        if not held:
            pickup_arrival = max(pickup_arrival, self.activities[-1].start)
        self._drive(trip)
        self.location = dest
        there = (dest.lat, dest.lon)
        delivery_arrival = self.t
        hold = _held_hours(n, 2)
        if self.hold_at is not None and abs(self.t - self.hold_at) < 1:
            hold = DEMO_HOLD_S / HOUR  # the demo truck (Simulator._demo_plan)
        held = self._held(hold, there, trip)
        self._on_duty(rng.uniform(0.75, 1.5) * HOUR, there, trip)
        delivery_departure = self.t
        if not held:
            delivery_arrival = max(delivery_arrival, self.activities[-1].start)

        p_from = _round_half_hour(pickup_arrival - rng.uniform(0, 1.0) * HOUR)
        if trip.late:
            d_to = _round_half_hour(delivery_arrival - rng.uniform(1.0, 3.0) * HOUR)
        else:
            d_to = _round_half_hour(delivery_arrival + rng.uniform(0.5, 2.0) * HOUR) + 1800
        keys = (n * 10 + 1, n * 10 + 2)
        trip.stops = [
            Stop(
                keys[0],
                1,
                "Pickup",
                origin,
                _dt(p_from),
                _dt(p_from + 2 * HOUR),
                _dt(pickup_arrival),
                _dt(pickup_departure),
            ),
            Stop(
                keys[1],
                2,
                "Delivery",
                dest,
                _dt(d_to - 2 * HOUR),
                _dt(d_to),
                _dt(delivery_arrival),
                _dt(delivery_departure),
            ),
        ]
        self.trips.append(trip)
        # Between loads: a short wait for the next dispatch, or the night's rest.
        if MAX_SHIFT_S - (self.t - self.shift_start) < 4 * HOUR:
            self._rest()
        else:
            self._add(self.t + rng.uniform(0.25, 2.0) * HOUR, OFF_DUTY, point=there)

    def extend_until(self, until: float) -> None:
        while self.t < until:
            self._next_trip()


# The demo truck reached its receiver this long before the fleet's start and waits this long.
DEMO_HELD_S = 2.75 * HOUR
DEMO_HOLD_S = 5 * HOUR


# Where the demo's HOS violators are at the fleet's start (Simulator._violator_plan): on duty at a
# dock this long already, with at least this much of the loading or unloading left; the one
# still at the wheel reaches the receiver this long after the start.
VIOLATOR_AT_DOCK_S = 10 * 60
VIOLATOR_DOCK_LEFT_S = 1.0 * HOUR
VIOLATOR_ARRIVES_S = 5 * 60
# Inside a campaign audience's default look-back (7 days), with a day's margin.
VIOLATOR_RECENT_S = 6 * 24 * HOUR


def _dock_anchors(
    acts: list[Activity], arriving: bool, *, tolerance: float = 0.0, at: float | None = None
) -> list[float]:
    """The moments of a timeline that `Simulator._violator_plan` may put on the fleet's start:
    `VIOLATOR_AT_DOCK_S` into on-duty work at a stop long enough to leave
    `VIOLATOR_DOCK_LEFT_S`, or (`arriving`) `VIOLATOR_ARRIVES_S` before a load's last stretch of
    driving ends at the receiver straight into that work (not held off duty first). With `at`,
    only an anchor within `tolerance` seconds of it is returned, as `at` itself."""
    found = []
    for act, following in pairwise(acts):
        if arriving:
            dock = following
            anchor = act.end - VIOLATOR_ARRIVES_S
            fits = act.status == DRIVING and act.frac1 >= 1.0 - 1e-9
        else:
            dock = act
            anchor = act.start + VIOLATOR_AT_DOCK_S
            fits = True
        fits = fits and dock.status == ON_DUTY and dock.trip is not None
        if not fits or dock.end - max(anchor, dock.start) < VIOLATOR_DOCK_LEFT_S:
            continue
        if at is None:
            found.append(anchor)
        elif abs(anchor - at) <= tolerance:
            found.append(at)
    return found


def _held_hours(trip_number: int, sequence: int) -> float:
    """Extra hours a truck is held at a stop: about one stop in four waits 1.25-3.25 h more
    than the loading itself, so dwell runs past the usual 2 h free time and the demo shows
    detention. A hash of the trip, not the generator's random stream, so the rest of the
    fleet's draws stay as they were."""
    roll = (trip_number * 7919 + sequence * 104729) % 100
    return 1.25 + (roll % 5) * 0.5 if roll < 25 else 0.0


def _lerp(a: City, b: City, frac: float) -> tuple[float, float]:
    return (a.lat + (b.lat - a.lat) * frac, a.lon + (b.lon - a.lon) * frac)


def _round_half_hour(ts: float) -> float:
    return math.floor(ts / 1800) * 1800


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _place(lat: float, lon: float, near: City) -> str:
    miles = great_circle_miles(near.lat, near.lon, lat, lon)
    if miles < 3:
        return f"{near.address}, {near.name}, {near.state} {near.zip}"
    direction = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")[
        int((bearing_degrees(near.lat, near.lon, lat, lon) + 22.5) // 45) % 8
    ]
    return f"{miles:.0f} mi {direction} of {near.name}, {near.state}"


class Simulator:
    """The fleet for one seed. `clock` is injectable (tests pass a fixed time)."""

    def __init__(
        self,
        seed: int = 42,
        trucks: int = 25,
        *,
        clock: Clock = wall_clock,
        start: datetime | None = None,
        history_hours: float | None = None,
        location_interval_s: int = 60,
    ) -> None:
        self.seed = seed
        self.size = trucks
        self.clock = clock
        start = start or clock()
        self.start = start.astimezone(UTC).replace(second=0, microsecond=0)
        self.history_hours = history_hours_from_env() if history_hours is None else history_hours
        self.location_interval_s = location_interval_s
        rng = random.Random(f"{seed}:fleet")
        self.drivers: list[Driver] = []
        self.vehicles: list[Vehicle] = []
        self.trailers: list[Trailer] = []
        self._build(rng, trucks)
        # Timelines start well before the history window (HOS cycle needs 8 days of past duty).
        lookback = max(CYCLE_WINDOW_S + 2 * 24 * HOUR, (self.history_hours + 48) * HOUR)
        begin = _ts(self.start) - lookback
        self._plans = {
            v.samsara_id: _TruckPlan(self, v, begin - rng.uniform(0, 10 * HOUR))
            for v in self.vehicles
        }
        if self.vehicles:
            demo = self.vehicles[0]
            self._plans[demo.samsara_id] = self._demo_plan(demo, self._plans[demo.samsara_id])
        # The HOS violators: one with a recent violation still at the wheel (when there are
        # two or more, the last that can be), the others at docks (`_violator_plan`).
        violators = [v for v in self.vehicles[1:] if v.driver.violator]
        arriving = None
        for vehicle in reversed(violators[1:]):
            shifted = self._violator_plan(vehicle, self._plans[vehicle.samsara_id], arriving=True)
            if shifted is not None:
                self._plans[vehicle.samsara_id], arriving = shifted, vehicle
                break
        for vehicle in violators:
            if vehicle is not arriving:
                plan = self._plans[vehicle.samsara_id]
                shifted = self._violator_plan(vehicle, plan, arriving=False)
                self._plans[vehicle.samsara_id] = shifted or plan
        self._horizon = begin
        # Trucks made late (`POST /_sandbox/fleet/delay`), in the order applied: sandbox/delays.py.
        self.delays: list[Delay] = []
        self._ensure(_ts(self.start))

    # ---- fleet -----------------------------------------------------------------------------
    def _build(self, rng: random.Random, trucks: int) -> None:
        names = [(f, last) for f in _FIRST for last in _LAST]
        rng.shuffle(names)
        used_ids: set[str] = set()

        def unique(make: Callable[[], str]) -> str:
            value = make()
            while value in used_ids:
                value = make()
            used_ids.add(value)
            return value

        driver_count = trucks + max(1, trucks // 25)  # a few deactivated drivers without a truck
        for i in range(driver_count):
            first, last = names[i % len(names)]
            home = rng.choice(CITIES)
            ditat_id = f"{first[0]}{last}".upper()[:8] + f"{i + 1:02d}"
            self.drivers.append(
                Driver(
                    index=i,
                    samsara_id=unique(lambda: str(rng.randrange(10**7, 10**8))),
                    ditat_id=ditat_id,
                    first_name=first,
                    last_name=last,
                    phone=f"+1{_AREA_CODES[home.state]}555{i:04d}",
                    email=f"{first}.{last}{i + 1}@drivers.example.com".lower(),
                    timezone=home.timezone,
                    license_number=f"{home.state}{rng.randrange(10**7, 10**8)}",
                    license_state=home.state,
                    home=home,
                    active=i < trucks,
                    # The demo's HOS violators answer their phones (the sandbox's numbers ending
                    # 7, 8 and 9 reach voicemail, are busy or ring out, and a campaign retries
                    # those for hours): a campaign over them can be watched to its end.
                    violator=rng.random() < 0.15 and f"{i:04d}"[-1] not in "789",
                    app_disconnected=rng.random() < 0.04,
                )
            )
        for i in range(trucks):
            kind = rng.choice(("Dry Van 53'", "Dry Van 53'", "Reefer 53'"))
            trailer = Trailer(
                f"T-{5300 + i + 1}",
                300000 + i + 1,
                kind,
                f"{rng.randrange(100000, 999999)}T",
                str(rng.randrange(2015, 2024)),
            )
            self.trailers.append(trailer)
            make, model = rng.choice(_TRUCKS)
            driver = self.drivers[i]
            vehicle = Vehicle(
                index=i,
                samsara_id=unique(lambda: str(281474977000000 + rng.randrange(10**6))),
                unit=str(101 + i),
                truck_key=100000 + i + 1,
                vin="".join(rng.choice(_VIN_CHARS) for _ in range(17)),
                make=make,
                model=model,
                year=str(rng.randrange(2018, 2025)),
                plate="".join(rng.choice(_VIN_CHARS[:24]) for _ in range(3))
                + str(rng.randrange(1000, 9999)),
                plate_state=driver.home.state,
                serial=f"G{rng.randrange(10**8):08d}",
                odometer_start_m=rng.uniform(150_000, 700_000) * METERS_PER_MILE,
                driver=driver,
                trailer=trailer,
            )
            self.vehicles.append(vehicle)
        # One truck's gateway has gone quiet (lost GPS), if the fleet is big enough to spare it.
        if trucks >= 10:
            self.vehicles[rng.randrange(trucks)].gps_lost_at = self.start - timedelta(hours=3)

    def _demo_plan(self, vehicle: Vehicle, plan: _TruckPlan) -> _TruckPlan:
        """The first truck's timeline, shifted so that it reached a receiver `DEMO_HELD_S`
        before the fleet's start and is held there `DEMO_HOLD_S` (detention from the first
        minutes of a demo). Shifting a whole timeline keeps it legal: every rule is relative."""
        target = _ts(self.start) - DEMO_HELD_S
        probe = _TruckPlan(self, vehicle, plan.t)
        probe.extend_until(target)
        candidates = [_ts(t.stops[-1].arrived_at) for t in probe.trips]
        # An on-time load (the point is a truck that is held, not one that is late); shifting
        # moves the few absolute roundings, so each candidate is checked after its shift.
        for arrival in reversed([a for a in candidates if a <= target][-8:]):
            shifted = _TruckPlan(self, vehicle, plan.t + (target - arrival))
            check = _TruckPlan(self, vehicle, shifted.t)
            check.extend_until(target + 1)
            landed = [t for t in check.trips if abs(_ts(t.stops[-1].arrived_at) - target) < 1]
            if landed and not landed[0].late:
                shifted.hold_at = target
                return shifted
        return plan

    def _violator_plan(
        self, vehicle: Vehicle, plan: _TruckPlan, *, arriving: bool
    ) -> _TruckPlan | None:
        """An HOS violator's timeline, shifted as `_demo_plan`'s is, so that at the fleet's
        start the driver has been loading or unloading at a dock for `VIOLATOR_AT_DOCK_S`, on
        duty (neither driving nor resting: a call may reach them) with `VIOLATOR_DOCK_LEFT_S`
        or more of it left; with `arriving`, still at the wheel with a violation in the last
        `VIOLATOR_RECENT_S`, reaching the receiver `VIOLATOR_ARRIVES_S` after the start and
        unloading from then on. A campaign over the drivers with HOS violations then finishes
        within minutes of a demo's start, the one at the wheel waiting for the dock (the hub's
        safe-to-call gate defers a driver at the wheel). None if no stop of the last few fits."""
        start = _ts(self.start)
        probe = _TruckPlan(self, vehicle, plan.t)
        probe.extend_until(start)
        anchors = [a for a in _dock_anchors(probe.activities, arriving) if a <= start]
        for anchor in reversed(anchors[-8:]):
            shifted = _TruckPlan(self, vehicle, plan.t + (start - anchor))
            check = _TruckPlan(self, vehicle, shifted.t)
            check.extend_until(start + VIOLATOR_ARRIVES_S + VIOLATOR_DOCK_LEFT_S)
            recent = any(
                start - VIOLATOR_RECENT_S <= _ts(v.start) <= start for v in check.violations
            )
            fits = start in _dock_anchors(check.activities, arriving, tolerance=1.0, at=start)
            if fits and (recent or not arriving):
                return shifted
        return None

    def _ensure(self, until: float) -> None:
        """Generate every truck's timeline past `until` plus two days of planned loads."""
        self.extend_horizon(until + 2 * 24 * HOUR)

    @property
    def horizon(self) -> float:
        """How far (epoch seconds) every truck's timeline has been generated."""
        return self._horizon

    def extend_horizon(self, target: float) -> None:
        """Generate in the same 12-hour steps whatever asked, so a timeline is a function of how
        far it was generated (a replayed delay lands on the same timeline: sandbox/delays.py)."""
        while self._horizon < target:
            self._horizon += 12 * HOUR
            for plan in self._plans.values():
                plan.extend_until(self._horizon)

    def plan(self, vehicle: Vehicle) -> _TruckPlan:
        return self._plans[vehicle.samsara_id]

    def now(self) -> datetime:
        now = self.clock().astimezone(UTC)
        self._ensure(_ts(now))
        return now

    # ---- lookups ---------------------------------------------------------------------------
    def vehicle(self, samsara_id: str) -> Vehicle | None:
        return next((v for v in self.vehicles if v.samsara_id == samsara_id), None)

    def vehicle_for_driver(self, driver: Driver) -> Vehicle | None:
        return next((v for v in self.vehicles if v.driver is driver), None)

    def _activity(self, vehicle: Vehicle, at: float) -> Activity:
        plan = self._plans[vehicle.samsara_id]
        self._ensure(at)
        i = max(0, bisect.bisect_right(plan.starts, at) - 1)
        return plan.activities[i]

    def _position_in(self, vehicle: Vehicle, act: Activity, at: float) -> Position:
        if act.status == DRIVING and act.trip is not None:
            span = max(act.end - act.start, 1.0)
            frac = act.frac0 + (act.frac1 - act.frac0) * (at - act.start) / span
            lat, lon = _lerp(act.trip.origin, act.trip.destination, frac)
            heading = bearing_degrees(
                act.trip.origin.lat,
                act.trip.origin.lon,
                act.trip.destination.lat,
                act.trip.destination.lon,
            )
            # Traffic and grades: a deterministic wobble around the chunk's cruising speed.
            speed = act.speed_mph + 3.0 * math.sin(at / 97.0 + vehicle.index)
            odometer = act.odometer_m + (at - act.start) / HOUR * act.speed_mph * METERS_PER_MILE
            near = act.trip.origin if frac < 0.5 else act.trip.destination
        else:
            lat, lon = act.point
            heading, speed, odometer = 0.0, 0.0, act.odometer_m
            near = min(CITIES, key=lambda c: abs(c.lat - lat) + abs(c.lon - lon))
        return Position(
            _dt(at),
            round(lat, 6),
            round(lon, 6),
            round(heading, 1),
            round(max(speed, 0.0), 1),
            round(odometer),
            act.status,
            _place(lat, lon, near),
        )

    def position(self, vehicle: Vehicle, at: datetime) -> Position:
        ts = _ts(at)
        return self._position_in(vehicle, self._activity(vehicle, ts), ts)

    def last_known_position(self, vehicle: Vehicle, at: datetime) -> Position:
        """Where the gateway last reported from at `at` (frozen once its GPS went quiet)."""
        if vehicle.gps_lost_at is not None and at > vehicle.gps_lost_at:
            at = vehicle.gps_lost_at
        return self.position(vehicle, at)

    def reports_at(self, vehicle: Vehicle, at: datetime) -> bool:
        return vehicle.gps_lost_at is None or at <= vehicle.gps_lost_at

    def sample_times(self, after: datetime, until: datetime) -> list[datetime]:
        """The fixed reporting grid (every `location_interval_s`) in (after, until]."""
        step = self.location_interval_s
        first = math.floor(_ts(after) / step) * step + step
        last = math.floor(_ts(until) / step) * step
        return [_dt(t) for t in range(int(first), int(last) + 1, step)]

    @property
    def history_start(self) -> datetime:
        return self.start - timedelta(hours=self.history_hours)

    # ---- HOS -------------------------------------------------------------------------------
    def duty_status(self, vehicle: Vehicle, at: datetime) -> str:
        return self._activity(vehicle, _ts(at)).status

    def hos_clocks(self, vehicle: Vehicle, at: datetime) -> dict[str, float]:
        """Remaining HOS time in seconds at `at`, derived from the duty timeline."""
        plan = self._plans[vehicle.samsara_id]
        t = _ts(at)
        self._ensure(t)
        shift_start = plan.shift_starts[max(0, bisect.bisect_right(plan.shift_starts, t) - 1)]
        drive = since_break = 0.0
        for act in plan.activities:
            if act.start >= t:
                break
            if act.end <= shift_start:
                continue
            part = min(act.end, t) - max(act.start, shift_start)
            if act.status == DRIVING:
                drive += part
                since_break += part
            elif act.status in (OFF_DUTY, SLEEPER) and part >= BREAK_S:
                since_break = 0.0
        cycle_from = plan.cycle_start(t)
        on_duty_cycle = plan._cycle_used(t)
        current = self._activity(vehicle, t)
        resting = current.status in (OFF_DUTY, SLEEPER) and t - current.start >= REST_S
        if resting:
            drive, since_break, shift_elapsed = 0.0, 0.0, 0.0
        else:
            shift_elapsed = t - shift_start
        return {
            "break": max(0.0, round(BREAK_AFTER_S - since_break)),
            "drive": max(0.0, round(MAX_DRIVE_S - drive)),
            "shift": max(0.0, round(MAX_SHIFT_S - shift_elapsed)),
            "cycle": max(0.0, round(CYCLE_S - on_duty_cycle)),
            "cycle_tomorrow": max(0.0, round(min(CYCLE_S, CYCLE_S - on_duty_cycle + 8 * HOUR))),
            "cycle_started": cycle_from,
            "shift_driving_violation": max(0.0, round(drive - MAX_DRIVE_S)),
        }

    def hos_logs(self, vehicle: Vehicle, start: datetime, end: datetime) -> list[Activity]:
        """Duty-status changes overlapping [start, end] (consecutive same statuses merged)."""
        plan = self._plans[vehicle.samsara_id]
        lo, hi = _ts(start), _ts(end)
        self._ensure(hi)
        merged: list[Activity] = []
        for act in plan.activities:
            if act.end <= lo:
                continue
            if act.start >= hi:
                break
            if merged and merged[-1].status == act.status:
                prev = merged[-1]
                merged[-1] = Activity(prev.start, act.end, prev.status, prev.point, prev.trip)
            else:
                merged.append(Activity(act.start, act.end, act.status, act.point, act.trip))
        return merged

    def hos_violations(self, start: datetime, end: datetime) -> list[HosViolation]:
        lo, hi = start, min(end, self.now())
        self._ensure(_ts(hi))
        found = [v for plan in self._plans.values() for v in plan.violations if lo <= v.start <= hi]
        return sorted(found, key=lambda v: (v.start, v.driver.samsara_id))

    # ---- safety ----------------------------------------------------------------------------
    def safety_events(self, start: datetime, end: datetime) -> list[SafetyEvent]:
        hi = min(end, self.now())
        self._ensure(_ts(hi))
        found = [e for p in self._plans.values() for e in p.events if start <= e.time <= hi]
        return sorted(found, key=lambda e: (e.time, e.event_id))

    # ---- trips -----------------------------------------------------------------------------
    def trips(self, start: datetime, end: datetime) -> list[Trip]:
        """Trips whose pickup-to-delivery span overlaps [start, end], by trip number."""
        self._ensure(_ts(end))
        found = [
            t for p in self._plans.values() for t in p.trips if t.start <= end and t.end >= start
        ]
        return sorted(found, key=lambda t: t.trip_key)

    def all_trips(self) -> list[Trip]:
        return sorted((t for p in self._plans.values() for t in p.trips), key=lambda t: t.trip_key)

    def trip_by_shipment(self, ident: str) -> Trip | None:
        return next(
            (t for t in self.all_trips() if ident in (t.shipment_id, str(t.shipment_key))), None
        )

    def current_trip(self, vehicle: Vehicle, at: datetime) -> Trip | None:
        trips = self._plans[vehicle.samsara_id].trips
        return next((t for t in trips if t.end >= at), None)
