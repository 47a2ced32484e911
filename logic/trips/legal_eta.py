"""Legal ETA for every active trip: the physical plan (logic/trips/eta.py) run through the HOS
projection (logic/hos/projection.py) from the driver's current clocks.

Set-based for a fleet of tens of thousands: one query reads every active trip's stored legal
ETA and its driver's clocks, a second (small) one when a rest is under way; the projection
runs in plain Python on tuples (no ORM objects, no per-trip query); only rows whose legal ETA
moved by 5 min or more, or whose binding clock changed, are written, in one statement.
A trip whose driver has no clock gets no legal ETA (None), never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, update
from sqlmodel import Session

from config import get_settings
from logic.hos.projection import Clocks, Projection, project
from logic.trips.eta import EtaReport
from models.hos import DutyStatus, HosClock, HosLog
from models.trip import ACTIVE_TRIP_STATUSES, Trip

UNCHANGED_TOLERANCE = timedelta(minutes=5)
_MINUTE = timedelta(minutes=1)
_DRIVING = DutyStatus.DRIVING.value
_WORKING = (DutyStatus.ON_DUTY.value, DutyStatus.YARD_MOVE.value)
RESTING_STATUSES = (DutyStatus.OFF_DUTY.value, DutyStatus.SLEEPER_BERTH.value)


@dataclass(frozen=True)
class LegalEta:
    trip_id: int
    eta_next_stop: datetime
    eta_final: datetime
    binding_clock: str | None
    binds_at: datetime | None
    rests: int


@dataclass
class LegalReport:
    trips: int = 0
    computed: int = 0
    written: int = 0
    without_clock: int = 0
    etas: dict[int, LegalEta] = field(default_factory=dict)


def clocks_now(
    status: str | None,
    drive: int | None,
    shift: int | None,
    until_break: int | None,
    cycle: int | None,
    as_of: datetime,
    now: datetime,
    resting_since: datetime | None = None,
) -> Clocks | None:
    """The clocks as they stand at `now`: a clock read while driving or working has run on since
    `as_of`; a rest under way counts from when it began. None when a clock is unknown."""
    if drive is None or shift is None:
        return None
    elapsed = max((now - as_of) / _MINUTE, 0.0)
    brk = until_break if until_break is not None else drive
    cyc = cycle if cycle is not None else 70 * 60
    resting = 0.0
    if status == _DRIVING:
        drive, shift, brk, cyc = drive - elapsed, shift - elapsed, brk - elapsed, cyc - elapsed
    elif status in _WORKING:
        shift, cyc = shift - elapsed, cyc - elapsed
    elif status in RESTING_STATUSES and resting_since is not None:
        resting = max((now - resting_since) / _MINUTE, 0.0)
    return Clocks(drive, shift, brk, cyc, resting_for=resting)


def _state_query():
    return (
        select(
            Trip.id,
            Trip.driver_id,
            Trip.eta_next_stop_legal,
            Trip.eta_final_legal,
            Trip.hos_binding_clock,
            HosClock.duty_status,
            HosClock.drive_remaining_minutes,
            HosClock.shift_remaining_minutes,
            HosClock.time_until_break_minutes,
            HosClock.cycle_remaining_minutes,
            HosClock.as_of,
        )
        .select_from(Trip)
        .outerjoin(HosClock, HosClock.driver_id == Trip.driver_id)
        .where(Trip.status.in_([s.value for s in ACTIVE_TRIP_STATUSES]))
    )


def resting_since(session: Session, driver_ids: list[int]) -> dict[int, datetime]:
    """When each given driver's ongoing off-duty or sleeper segment began (only drivers whose
    clocks are spent need it, so the list is short)."""
    if not driver_ids:
        return {}
    rows = session.execute(
        select(HosLog.driver_id, func.max(HosLog.start_at))
        .where(HosLog.driver_id.in_(driver_ids), HosLog.end_at.is_(None))
        .where(HosLog.duty_status.in_(RESTING_STATUSES))
        .group_by(HosLog.driver_id)
    ).all()
    out: dict[int, datetime] = {}
    for driver_id, start in rows:
        if isinstance(start, str):  # SQLite aggregates bypass the column type
            start = datetime.fromisoformat(start)
        out[driver_id] = start
    return out


def compute_legal_etas(
    session: Session, physical: EtaReport, *, now: datetime, write: bool = True
) -> LegalReport:
    """Legal ETAs for the trips `physical` covered; stored on the trip unless `write=False`."""
    settings = get_settings()
    dwell = settings.ETA_STOP_DWELL_MINUTES
    cycle_limit = settings.HOS_CYCLE_HOURS * 60
    rows = session.execute(_state_query()).all()
    spent = [
        r.driver_id
        for r in rows
        if r.duty_status in RESTING_STATUSES
        and r.drive_remaining_minutes is not None
        and (r.drive_remaining_minutes <= 0 or (r.shift_remaining_minutes or 0) <= 0)
    ]
    since = resting_since(session, spent)
    report = LegalReport()
    changed: list[tuple[int, datetime, datetime, str | None, datetime | None]] = []
    etas = physical.etas
    for row in rows:
        report.trips += 1
        eta = etas.get(row.id)
        if eta is None or not eta.legs:
            continue
        if row.as_of is None:
            report.without_clock += 1
            continue
        clocks = clocks_now(
            row.duty_status,
            row.drive_remaining_minutes,
            row.shift_remaining_minutes,
            row.time_until_break_minutes,
            row.cycle_remaining_minutes,
            row.as_of,
            now,
            since.get(row.driver_id),
        )
        if clocks is None:
            report.without_clock += 1
            continue
        plan: Projection = project(clocks, eta.legs, dwell=dwell, cycle_limit=cycle_limit)
        # Not clamped to the physical ETA: that one inserts a whole 10 h rest whenever the
        # drive clock is spent, even for a driver already 7 h into it.
        legal_next = now + timedelta(minutes=plan.arrivals[0])
        legal_final = now + timedelta(minutes=plan.arrivals[-1])
        first = plan.binding
        clock = first.clock if first else None
        binds_at = now + timedelta(minutes=first.start) if first else None
        report.etas[row.id] = LegalEta(
            row.id, legal_next, legal_final, clock, binds_at, len(plan.rests)
        )
        report.computed += 1
        old_next, old_final = row.eta_next_stop_legal, row.eta_final_legal
        if (
            old_next is None
            or old_final is None
            or row.hos_binding_clock != clock
            or abs(old_next - legal_next) >= UNCHANGED_TOLERANCE
            or abs(old_final - legal_final) >= UNCHANGED_TOLERANCE
        ):
            changed.append((row.id, legal_next, legal_final, clock, binds_at))
    if write and changed:
        _write(session, changed, now)
        report.written = len(changed)
    return report


def _write(session: Session, changed: list[tuple], now: datetime) -> None:
    if session.get_bind().dialect.name == "postgresql":
        _write_postgres(session, changed, now)
        return
    trip = Trip.__table__
    session.execute(
        update(trip)
        .where(trip.c.id == bindparam("b_id"))
        .values(
            eta_next_stop_legal=bindparam("b_next", type_=trip.c.eta_next_stop_legal.type),
            eta_final_legal=bindparam("b_final", type_=trip.c.eta_final_legal.type),
            hos_binding_clock=bindparam("b_clock"),
            hos_binds_at=bindparam("b_binds", type_=trip.c.hos_binds_at.type),
        ),
        [
            {"b_id": i, "b_next": n, "b_final": f, "b_clock": c, "b_binds": b}
            for i, n, f, c, b in changed
        ],
    )


_CLOCK_SQL = {None: "NULL", **{c: f"'{c}'" for c in ("drive", "shift", "break", "cycle")}}


def _write_postgres(session: Session, changed: list[tuple], now: datetime) -> None:
    """One `UPDATE … FROM (VALUES …)`: times travel as whole microseconds after `now` (integers
    format far faster than timestamps), the clock as one of four fixed literals."""
    micro = timedelta(microseconds=1)
    values = ",".join(
        f"({i:d},{(n - now) // micro:d},{(f - now) // micro:d},{_CLOCK_SQL[c]},"
        f"{'NULL' if b is None else format((b - now) // micro, 'd')})"
        for i, n, f, c, b in changed
    )
    # `values` holds integers formatted with :d, NULL and the fixed literals above: no injection.
    statement = (
        f"WITH v(id, next_us, final_us, clock, binds_us) AS (VALUES {values}) "  # noqa: S608
        "UPDATE trip SET "
        "eta_next_stop_legal = %(now)s::timestamptz + v.next_us * interval '1 microsecond', "
        "eta_final_legal = %(now)s::timestamptz + v.final_us * interval '1 microsecond', "
        "hos_binding_clock = v.clock, "
        "hos_binds_at = %(now)s::timestamptz + v.binds_us::bigint * interval '1 microsecond' "
        "FROM v WHERE trip.id = v.id"
    )
    connection = session.connection().connection.dbapi_connection
    with connection.cursor() as cursor:
        cursor.execute(statement, {"now": now})
