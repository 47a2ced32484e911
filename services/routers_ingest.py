"""The ingest service's routers, in one explicit list."""

from fastapi import APIRouter

from services import ingest_ditat, ingest_runs, ingest_samsara

ROUTERS: list[APIRouter] = [
    ingest_samsara.router,
    ingest_ditat.router,
    ingest_runs.router,
]
