"""Ingest app: trigger Ditat pulls (`POST /ingest/ditat/{entity}` and `/all`)."""

from __future__ import annotations

from enum import StrEnum

from fastapi import APIRouter, BackgroundTasks
from fastapi.responses import JSONResponse

from logic.ingest import ditat, jobs
from models.ingest import IngestRunPublic
from services.deps import IngestRunCaller
from services.ingest_runs import TRIGGER_RESPONSES, trigger, trigger_all

router = APIRouter(prefix="/ingest/ditat", tags=["ingest"])

DitatEntity = StrEnum("DitatEntity", {name: name for name in ditat.ENTITIES})


@router.post("/all")
def ingest_ditat_all(caller: IngestRunCaller, tasks: BackgroundTasks) -> jobs.IngestAllResult:
    """Run every Ditat entity in order; entities already running elsewhere are listed."""
    return trigger_all("ditat", caller, tasks)


@router.post("/{entity}", response_model=IngestRunPublic, responses=TRIGGER_RESPONSES)
def ingest_ditat(
    entity: DitatEntity, caller: IngestRunCaller, tasks: BackgroundTasks, background: bool = False
) -> IngestRunPublic | JSONResponse:
    """Pull one Ditat entity now (or in the background) and return the run summary."""
    return trigger("ditat", entity.value, background, tasks, caller)
