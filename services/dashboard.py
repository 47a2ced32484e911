"""Dispatch dashboard KPIs in one call."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from helpers.time_utils import utc_now
from logic.dashboard import dashboard
from services.deps import DashboardRead, SessionDep
from services.http.etag import PolledList

router = APIRouter(prefix="/dashboard", tags=["dashboard"])


class TripCounts(BaseModel):
    active: int
    late: int
    on_time: int
    eta_unknown: int


class TruckCounts(BaseModel):
    active: int
    moving: int
    stopped: int
    no_recent_gps: int


class FeedFreshness(BaseModel):
    source: str
    entity: str
    last_success_at: datetime | None
    minutes_ago: int | None


class Dashboard(BaseModel):
    as_of: datetime
    trips: TripCounts
    trucks: TruckCounts
    drivers_low_on_hours: int
    drive_time_threshold_minutes: int
    gps_fresh_minutes: int  # a truck seen longer ago counts as no_recent_gps (stale on the board)
    open_alerts_by_severity: dict[str, int]
    alerts_by_status: dict[str, int]
    ingest_freshness: list[FeedFreshness]


@router.get("", dependencies=[Depends(PolledList())])
def get_dashboard(session: SessionDep, _: DashboardRead) -> Dashboard:
    """Dispatch KPIs in one call: trips, trucks, drivers low on hours, alerts, ingest freshness.

    Trips active/late/on time, trucks moving/stopped, open alerts by severity, feed lag."""
    return dashboard(session, utc_now())
