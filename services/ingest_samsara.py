"""Ingest app: trigger Samsara pulls (`POST /ingest/samsara/{entity}` and `/all`)."""

from __future__ import annotations

from enum import StrEnum

from fastapi import APIRouter, BackgroundTasks
from fastapi.responses import JSONResponse

from logic.ingest import jobs, samsara
from models.ingest import IngestRunPublic
from services.deps import IngestRunCaller
from services.ingest_runs import TRIGGER_RESPONSES, trigger, trigger_all

router = APIRouter(prefix="/ingest/samsara", tags=["ingest"])

SamsaraEntity = StrEnum("SamsaraEntity", {name: name for name in samsara.ENTITIES})


@router.post("/all")
def ingest_samsara_all(caller: IngestRunCaller, tasks: BackgroundTasks) -> jobs.IngestAllResult:
    """Run every Samsara entity in order; entities already running elsewhere are listed."""
    return trigger_all("samsara", caller, tasks)


@router.post("/{entity}", response_model=IngestRunPublic, responses=TRIGGER_RESPONSES)
def ingest_samsara(
    entity: SamsaraEntity, caller: IngestRunCaller, tasks: BackgroundTasks, background: bool = False
) -> IngestRunPublic | JSONResponse:
    """Pull one Samsara entity now (or in the background) and return the run summary."""
    return trigger("samsara", entity.value, background, tasks, caller)
