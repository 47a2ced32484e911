"""Liveness and readiness probes; public, mounted on both apps."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from db.database import ping
from helpers.errors import DatabaseUnavailable

router = APIRouter(prefix="/health", tags=["health"])


@router.get("")
async def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready")
async def ready() -> dict[str, str]:
    """Readiness: one database round trip."""
    try:
        await run_in_threadpool(ping)
    except Exception as exc:
        raise DatabaseUnavailable(f"database check failed: {type(exc).__name__}") from None
    return {"status": "ready", "database": "ok"}
