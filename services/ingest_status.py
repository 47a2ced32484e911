"""Main API: a read-only view of ingest runs and per-source freshness (`/ingest-runs`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from logic.auth.permissions import Permission
from logic.ingest.status import IngestFreshness, freshness
from models.ingest import IngestRun, IngestRunPublic, IngestRunsPage, IngestStatus
from services.deps import Caller, ServiceOrPermission, SessionDep

router = APIRouter(prefix="/ingest-runs", tags=["ingest"])

IngestReadCaller = Annotated[Caller, Depends(ServiceOrPermission(Permission.INGEST_READ))]


@router.get("")
def list_ingest_runs_view(
    session: SessionDep,
    _: IngestReadCaller,
    source: str | None = None,
    entity: str | None = None,
    status: IngestStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> IngestRunsPage:
    """Recent ingest runs, newest first (read-only)."""
    runs = IngestRun.recent(
        session, source=source, entity=entity, status=status, limit=limit, offset=offset
    )
    items = [IngestRunPublic.model_validate(r) for r in runs]
    return IngestRunsPage(items=items, limit=limit, offset=offset)


@router.get("/status")
def ingest_freshness(session: SessionDep, _: IngestReadCaller) -> IngestFreshness:
    """Per source+entity: last success, records held, lag, and any run in progress."""
    return freshness(session)
