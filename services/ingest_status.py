"""Main API: a read-only view of ingest runs and per-source freshness (`/ingest-runs`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from logic.auth.permissions import Permission
from logic.ingest.status import IngestFreshness, freshness
from models.ingest import IngestRunsPage
from services.deps import Caller, ServiceOrPermission, SessionDep
from services.ingest_runs import RecentRunsPage

router = APIRouter(prefix="/ingest-runs", tags=["ingest"])

IngestReadCaller = Annotated[Caller, Depends(ServiceOrPermission(Permission.INGEST_READ))]


@router.get("")
def list_ingest_runs_view(_: IngestReadCaller, page: RecentRunsPage) -> IngestRunsPage:
    """Recent ingest runs, newest first (read-only)."""
    return page


@router.get("/status")
def ingest_freshness(session: SessionDep, _: IngestReadCaller) -> IngestFreshness:
    """Per source+entity: last success, records held, lag, and any run in progress."""
    return freshness(session)
