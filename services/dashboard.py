"""Dispatch dashboard KPIs in one call."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from helpers.time_utils import utc_now
from logic.dashboard import dashboard
from services.deps import DashboardRead, SessionDep

router = APIRouter(prefix="/dashboard", tags=["dashboard"])


@router.get("")
def get_dashboard(session: SessionDep, _: DashboardRead) -> dict[str, Any]:
    """Active/late/on-time trips, trucks moving/stopped, drivers low on hours, open alerts by
    severity and ingest freshness."""
    return dashboard(session, utc_now())
