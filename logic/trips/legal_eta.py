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
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Float, bindparam, func, select, update
from sqlmodel import Session

from config import get_settings
from logic.hos.projection import Clocks, fits_without_rest, project
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


@dataclass
class LegalReport:
    """What a pass found. `minutes` holds, per trip, (next stop, final stop, binding clock,
    binds at) as minutes from `now`: 50k datetimes cost more than the projection itself, so
    `eta(trip_id)` builds them on demand."""

    now: datetime
    trips: int = 0
    computed: int = 0
    written: int = 0
    without_clock: int = 0
    minutes: dict[int, tuple[float, float, str | None, float | None]] = field(default_factory=dict)

    def eta(self, trip_id: int) -> LegalEta | None:
        found = self.minutes.get(trip_id)
        if found is None:
            return None
        nxt, final, clock, binds = found
        at = self.now
        return LegalEta(
            trip_id,
            at + timedelta(minutes=nxt),
            at + timedelta(minutes=final),
            clock,
            None if binds is None else at + timedelta(minutes=binds),
        )


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
    """The clocks as they stand at `now` (see `_caught_up`). None when a clock is unknown."""
    if drive is None or shift is None:
        return None
    elapsed = max((now - as_of) / _MINUTE, 0.0)
    resting = max((now - resting_since) / _MINUTE, 0.0) if resting_since is not None else 0.0
    return Clocks(*_caught_up(status, drive, shift, until_break, cycle, elapsed, resting))


def _caught_up(
    status: str | None,
    drive: float,
    shift: float,
    until_break: float | None,
    cycle: float | None,
    elapsed: float,
    resting: float,
) -> tuple[float, float, float, float, float]:
    """A clock read `elapsed` minutes ago while driving or working has run on since; a rest
    under way (`resting` minutes long) counts toward its reset."""
    brk = until_break if until_break is not None else drive
    cyc = cycle if cycle is not None else 70 * 60
    if status == _DRIVING:
        return drive - elapsed, shift - elapsed, brk - elapsed, cyc - elapsed, 0.0
    if status in _WORKING:
        return drive, shift - elapsed, brk, cyc - elapsed, 0.0
    return drive, shift, brk, cyc, resting if status in RESTING_STATUSES else 0.0


def _epoch(column: Any, dialect: str) -> Any:
    """A timestamp column as float seconds since 1970 (no datetime objects per row)."""
    if dialect == "postgresql":
        # date_part is double precision; EXTRACT is numeric, which costs ~3 µs a value.
        return func.date_part("epoch", column, type_=Float)
    return (func.julianday(column) - 2440587.5) * 86400.0


def _state_query(dialect: str):
    return (
        select(
            Trip.id,
            Trip.driver_id,
            _epoch(Trip.eta_next_stop_legal, dialect),
            _epoch(Trip.eta_final_legal, dialect),
            Trip.hos_binding_clock,
            HosClock.duty_status,
            HosClock.drive_remaining_minutes,
            HosClock.shift_remaining_minutes,
            HosClock.time_until_break_minutes,
            HosClock.cycle_remaining_minutes,
            _epoch(HosClock.as_of, dialect),
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
        out[driver_id] = start if start.tzinfo else start.replace(tzinfo=UTC)
    return out


def _read_state(session: Session) -> list[tuple]:
    """Every active trip's stored legal ETA and its driver's clock, as plain tuples: on
    PostgreSQL straight from the driver's cursor (SQLAlchemy rows cost ~2 µs each at 50k)."""
    connection = session.connection()
    statement = _state_query(connection.dialect.name)
    if connection.dialect.name != "postgresql":
        return [tuple(row) for row in connection.execute(statement)]
    # Literal binds are the fixed active statuses only (no caller input reaches this SQL).
    sql = str(statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    with connection.connection.dbapi_connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def compute_legal_etas(
    session: Session, physical: EtaReport, *, now: datetime, write: bool = True
) -> LegalReport:
    """Legal ETAs for the trips `physical` covered; stored on the trip unless `write=False`."""
    settings = get_settings()
    dwell = settings.ETA_STOP_DWELL_MINUTES
    cycle_limit = settings.HOS_CYCLE_HOURS * 60
    rows = _read_state(session)
    spent = [
        row[1]
        for row in rows
        if row[5] in RESTING_STATUSES and row[6] is not None and (row[6] <= 0 or (row[7] or 0) <= 0)
    ]
    since = {d: (now - at) / _MINUTE for d, at in resting_since(session, spent).items()}
    report = LegalReport(now)
    out = report.minutes
    changed: list[tuple[int, float, float, str | None, float | None]] = []
    etas = physical.etas
    now_s = now.timestamp()
    tolerance = UNCHANGED_TOLERANCE.total_seconds()
    report.trips = len(rows)
    for trip_id, driver_id, old_next, old_final, old_clock, status, *clock, as_of in rows:
        eta = etas.get(trip_id)
        if eta is None or not eta.legs:
            continue
        drive, shift, brk, cyc = clock
        if as_of is None or drive is None or shift is None:
            report.without_clock += 1
            continue
        legs = eta.legs
        elapsed = (now_s - as_of) / 60.0
        values = _caught_up(
            status,
            drive,
            shift,
            brk,
            cyc,
            elapsed if elapsed > 0 else 0.0,
            since.get(driver_id, 0.0),
        )
        if fits_without_rest(values[0], values[1], values[2], values[3], legs, dwell):
            # No rest on the plan: the legal ETA is the physical drive plus dwell.
            first_at = legs[0]
            final_at = sum(legs) + dwell * (len(legs) - 1)
            binding: str | None = None
            binds: float | None = None
        else:
            plan = project(Clocks(*values), legs, dwell=dwell, cycle_limit=cycle_limit)
            first_at, final_at = plan.arrivals[0], plan.arrivals[-1]
            rest = plan.binding  # None when a long dwell was the break the fast path feared
            binding, binds = (rest.clock, rest.start) if rest else (None, None)
        out[trip_id] = (first_at, final_at, binding, binds)
        report.computed += 1
        if (
            old_next is None
            or old_final is None
            or old_clock != binding
            or abs(old_next - (now_s + first_at * 60.0)) >= tolerance
            or abs(old_final - (now_s + final_at * 60.0)) >= tolerance
        ):
            changed.append((trip_id, first_at, final_at, binding, binds))
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
            {
                "b_id": i,
                "b_next": now + timedelta(minutes=n),
                "b_final": now + timedelta(minutes=f),
                "b_clock": c,
                "b_binds": None if b is None else now + timedelta(minutes=b),
            }
            for i, n, f, c, b in changed
        ],
    )


_CLOCK_SQL = {None: "NULL", **{c: f"'{c}'" for c in ("drive", "shift", "break", "cycle")}}


def _write_postgres(session: Session, changed: list[tuple], now: datetime) -> None:
    """One `UPDATE … FROM (VALUES …)`: times travel as whole microseconds after `now` (integers
    format far faster than timestamps), the clock as one of four fixed literals."""
    values = ",".join(
        f"({i:d},{round(n * 60e6):d},{round(f * 60e6):d},{_CLOCK_SQL[c]},"
        f"{'NULL' if b is None else format(round(b * 60e6), 'd')})"
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
