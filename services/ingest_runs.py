"""Ingest app: the runs ledger (`/ingest/runs`) and the trigger plumbing both routers share."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from helpers.errors import NotFound
from logic.ingest import jobs
from logic.ingest.runner import IngestFailed
from models.ingest import IngestRun, IngestRunPublic, IngestRunsPage, IngestStatus
from services.deps import Caller, IngestRunCaller, SessionDep

router = APIRouter(prefix="/ingest/runs", tags=["ingest"])


class IngestRunAccepted(BaseModel):
    """A run started in the background; poll `href` for its summary."""

    run_id: int
    status: IngestStatus
    source: str
    entity: str
    href: str


TRIGGER_RESPONSES: dict[int | str, dict] = {
    202: {
        "model": IngestRunAccepted,
        "description": "`?background=true`: accepted; poll `/ingest/runs/{run_id}`",
    },
    409: {"description": "a run of this source+entity is already in progress (named)"},
    502: {"description": "the run failed; the body carries the recorded error and summary"},
}


def _trigger_name(caller: Caller) -> str:
    """How a run records who started it: the service key or a signed-in user."""
    return "api-key" if caller.is_service else "user"


def trigger(
    source: str, entity: str, background: bool, tasks: BackgroundTasks, caller: Caller
) -> IngestRunPublic | JSONResponse:
    """Start a run: wait for its summary, or answer 202 and finish it after the response."""
    started = jobs.start_ingest(
        source, entity, trigger=_trigger_name(caller), triggered_by=caller.label
    )
    if background:
        started.handle.stop_on_shutdown = True
        tasks.add_task(jobs.run_then_evaluate, started)
        accepted = IngestRunAccepted(
            run_id=started.run_id,
            status=IngestStatus.RUNNING,
            source=source,
            entity=entity,
            href=f"/ingest/runs/{started.run_id}",
        )
        return JSONResponse(accepted.model_dump(mode="json"), status_code=202)
    summary = started.run()
    if summary.status == IngestStatus.FAILED:
        raise IngestFailed(summary.error, run=summary.model_dump(mode="json"))
    tasks.add_task(jobs.evaluate_alerts_after, summary)  # after the response is sent
    return summary


def trigger_all(source: str, caller: Caller, tasks: BackgroundTasks) -> jobs.IngestAllResult:
    """Run every entity of `source` in order; entities already running elsewhere are listed."""
    result = jobs.run_all(source, trigger=_trigger_name(caller), triggered_by=caller.label)
    tasks.add_task(jobs.evaluate_alerts_after, *result.runs)
    return result


def recent_runs_page(
    session: SessionDep,
    source: str | None = None,
    entity: str | None = None,
    status: IngestStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> IngestRunsPage:
    """Dependency: the page of recent runs, newest first, that the query parameters ask for."""
    runs = IngestRun.recent(
        session, source=source, entity=entity, status=status, limit=limit, offset=offset
    )
    items = [IngestRunPublic.model_validate(r) for r in runs]
    return IngestRunsPage(items=items, limit=limit, offset=offset)


# Endpoints list it after their caller dependency, so a refused caller never runs the query.
RecentRunsPage = Annotated[IngestRunsPage, Depends(recent_runs_page)]


@router.get("")
def list_ingest_runs(_: IngestRunCaller, page: RecentRunsPage) -> IngestRunsPage:
    """Recent ingest runs, newest first, optionally filtered by source, entity and status."""
    return page


@router.get("/{run_id}")
def get_ingest_run(run_id: int, session: SessionDep, _: IngestRunCaller) -> IngestRunPublic:
    """One ingest run: counts, skip reasons, unmatched records, cursors, error, timing."""
    run = session.get(IngestRun, run_id)
    if run is None:
        raise NotFound(f"ingest run {run_id} not found")
    return IngestRunPublic.model_validate(run)
