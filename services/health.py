"""Liveness and readiness probes; public, mounted on both apps."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from db.database import ping
from helpers.errors import DatabaseUnavailable

router = APIRouter(prefix="/health", tags=["health"])


class Liveness(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str


@router.get("")
async def health() -> Liveness:
    """Liveness: the process answers."""
    return Liveness(status="ok")


@router.get("/ready")
async def ready() -> Readiness:
    """Readiness: one database round trip."""
    try:
        await run_in_threadpool(ping)
    except Exception as exc:
        raise DatabaseUnavailable(f"database check failed: {type(exc).__name__}") from None
    return Readiness(status="ready", database="ok")
