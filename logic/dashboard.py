"""Dispatch-board KPIs: trips (active, late, on time), trucks (moving, stopped, no GPS), drivers
low on hours, open alerts by severity and ingest freshness — a fixed handful of queries."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import Session

from logic.alerts.rules import load_rules
from models.alert import Alert, AlertStatus
from models.hos import HosClock
from models.ingest import IngestRun, IngestStatus
from models.location import VehicleLocation
from models.trip import ACTIVE_TRIP_STATUSES, Trip
from models.vehicle import UnitStatus, Vehicle

MOVING_MPH = 3.0
GPS_FRESH = timedelta(minutes=30)


def dashboard(session: Session, now: datetime) -> dict[str, Any]:
    active = [s.value for s in ACTIVE_TRIP_STATUSES]
    late = case((Trip.late_risk_minutes > 0, 1), else_=0)
    on_time = case((Trip.late_risk_minutes <= 0, 1), else_=0)
    total, n_late, n_on_time = session.execute(
        select(func.count(), func.coalesce(func.sum(late), 0), func.coalesce(func.sum(on_time), 0))
        .select_from(Trip)
        .where(Trip.status.in_(active))
    ).one()

    positions = VehicleLocation.latest_for_vehicles(session)
    active_units = session.scalar(
        select(func.count()).select_from(Vehicle).where(Vehicle.status == UnitStatus.ACTIVE)
    )
    moving = stopped = 0
    for loc in positions.values():
        if now - loc.recorded_at > GPS_FRESH:
            continue
        if (loc.speed_mph or 0) > MOVING_MPH:
            moving += 1
        else:
            stopped += 1

    threshold = int(load_rules(session).for_type("hos_drive_time_low").param("threshold_minutes"))
    low_on_hours = session.scalar(
        select(func.count(func.distinct(HosClock.driver_id)))
        .select_from(HosClock)
        .join(Trip, Trip.driver_id == HosClock.driver_id)
        .where(Trip.status.in_(active), HosClock.drive_remaining_minutes < threshold)
    )

    by_severity: dict[str, int] = {}
    by_status: dict[str, int] = {}
    for status, severity, n in Alert.count_by_status_severity(session):
        if status == AlertStatus.PENDING:
            continue
        by_status[status] = by_status.get(status, 0) + n
        if status in (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED):
            by_severity[severity] = by_severity.get(severity, 0) + n

    freshness = []
    for run in IngestRun.last_per_source_entity(session, status=IngestStatus.SUCCEEDED):
        finished = run.finished_at
        freshness.append(
            {
                "source": run.source,
                "entity": run.entity,
                "last_success_at": finished,
                "minutes_ago": int((now - finished).total_seconds() // 60) if finished else None,
            }
        )
    return {
        "as_of": now,
        "trips": {
            "active": int(total),
            "late": int(n_late),
            "on_time": int(n_on_time),
            "eta_unknown": int(total) - int(n_late) - int(n_on_time),
        },
        "trucks": {
            "active": int(active_units or 0),
            "moving": moving,
            "stopped": stopped,
            "no_recent_gps": int(active_units or 0) - moving - stopped,
        },
        "drivers_low_on_hours": int(low_on_hours or 0),
        "drive_time_threshold_minutes": threshold,
        "gps_fresh_minutes": int(GPS_FRESH.total_seconds() // 60),
        "open_alerts_by_severity": by_severity,
        "alerts_by_status": by_status,
        "ingest_freshness": freshness,
    }
