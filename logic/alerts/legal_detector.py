"""`cannot_legally_make_appointment`: the truck could get there in time, the driver's hours
cannot — the legal ETA (logic/trips/legal_eta.py) misses the next stop's window by more than
the grace while the physical ETA does not (that case is `late_for_appointment`'s).

The message names the binding clock and when it runs out relative to the physical arrival
("14-hour window ends Thu 16:40 CST, 2 h before arrival"), so the desk knows whether to re-plan,
swap drivers or call the receiver.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session

from config import get_settings
from helpers.time_utils import format_duration, zone_for_region
from logic.alerts.candidate import Candidate
from logic.alerts.detectors import (
    DETECTORS,
    DetectorContext,
    _hm,
    _label,
    _trip_candidate,
    _trip_details,
    _zone,
    next_stop_trips,
)
from logic.alerts.rules import EffectiveRule
from models.alert import AlertType
from models.trip import Trip


def clock_label(clock: str) -> str:
    """What runs out, as a dispatcher says it."""
    return {
        "drive": "11-hour driving limit ends",
        "shift": "14-hour window ends",
        "break": "30-minute break due",
        "cycle": f"{get_settings().HOS_CYCLE_HOURS}-hour cycle ends",
    }.get(clock, f"{clock} clock runs out")


_SPENT = {
    "drive": "11-hour driving limit already reached",
    "shift": "14-hour window already used up",
    "break": "30-minute break due now",
}


def binding_phrase(
    clock: str,
    binds_at: datetime,
    arrival: datetime | None,
    zone: str,
    now: datetime | None = None,
) -> str:
    """The card's lead: "14-hour window ends Thu 16:40 CST, 2 h before arrival", or "14-hour
    window already used up (…)" when the clock ran out before `now`."""
    if now is not None and binds_at <= now:
        spent = _SPENT.get(clock, f"{get_settings().HOS_CYCLE_HOURS}-hour cycle already used up")
        return f"{spent} ({_hm(binds_at, zone)})"
    phrase = f"{clock_label(clock)} {_hm(binds_at, zone)}"
    if arrival is not None and arrival > binds_at:
        ahead = (arrival - binds_at).total_seconds() / 60
        phrase += f", {format_duration(ahead)} before arrival"
    return phrase


def cannot_legally_make_appointment(
    session: Session, rule: EffectiveRule, now: datetime, ctx: DetectorContext
) -> list[Candidate]:
    """Trips whose legal ETA is past the next stop's window end by > grace, physical ETA not."""
    grace = int(rule.param("grace_minutes") or 0)
    rows = session.execute(
        next_stop_trips(
            Trip.eta_next_stop,
            Trip.eta_next_stop_legal,
            Trip.late_risk_minutes,
            Trip.hos_binding_clock,
            Trip.hos_binds_at,
        )
        # A binding clock means the plan needs a rest; without one legal == physical.
        .where(Trip.hos_binding_clock.is_not(None), Trip.eta_next_stop_legal.is_not(None))
        .where(or_(Trip.late_risk_minutes.is_(None), Trip.late_risk_minutes <= grace))
    ).all()
    out = []
    for row in rows:
        window_end = row.appointment_end or row.appointment_start
        if window_end is None:
            continue
        legal_late = (row.eta_next_stop_legal - window_end).total_seconds() / 60
        if legal_late <= grace:
            continue
        out.append(_candidate(row, rule, now, window_end, legal_late))
    return out


def _candidate(
    row: Any, rule: EffectiveRule, now: datetime, window_end: datetime, late: float
) -> Candidate:
    where = row.stop_name or ", ".join(p for p in (row.city, row.state) if p) or "next stop"
    zone = _zone(rule, zone_for_region(row.state), row.driver_timezone)
    binding = binding_phrase(row.hos_binding_clock, row.hos_binds_at, row.eta_next_stop, zone, now)
    return _trip_candidate(
        row,
        type=AlertType.CANNOT_LEGALLY_MAKE_APPOINTMENT,
        subject=f"trip:{row.id}",
        title=f"Cannot legally make appointment: {_label(row)}",
        message=(
            f"{binding}. Legal ETA {_hm(row.eta_next_stop_legal, zone)} at {where}, "
            f"{format_duration(late)} after the appointment window ends "
            f"({_hm(window_end, zone)}); the truck itself could arrive "
            f"{_hm(row.eta_next_stop, zone)}. Re-plan the load or call the receiver."
        ),
        details=_trip_details(
            row,
            next_stop=where,
            eta=row.eta_next_stop.isoformat() if row.eta_next_stop else None,
            eta_legal=row.eta_next_stop_legal.isoformat(),
            binding_clock=row.hos_binding_clock,
            binds_at=row.hos_binds_at.isoformat() if row.hos_binds_at else None,
            legal_late_minutes=round(late),
        ),
    )


# Registered here, not in detectors.py, which this module builds on; engine.py and rule_ops.py
# import this module so every pass sees it.
DETECTORS[AlertType.CANNOT_LEGALLY_MAKE_APPOINTMENT] = cannot_legally_make_appointment
