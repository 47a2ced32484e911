"""The ingest service's routers, in one explicit list.

The warehouse export lives here too: like ingest it is batch data movement that Cloud Scheduler
triggers with the service key and that may run for a while, so it stays off the user-facing API.
"""

from fastapi import APIRouter

from services import ingest_ditat, ingest_runs, ingest_samsara, warehouse

ROUTERS: list[APIRouter] = [
    ingest_samsara.router,
    ingest_ditat.router,
    ingest_runs.router,
    warehouse.router,
]
