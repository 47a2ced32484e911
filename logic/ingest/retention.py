"""Location retention: delete GPS points older than `LOCATION_RETENTION_DAYS`, in small batches.

Run by `hub prune-locations` on its own schedule, never while a location ingest runs
(enforced with the ingest's own lock), so a hot feed never waits on a long delete. Batches keep
each transaction (and its locks) short.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, select, tuple_

from db.database import session_scope
from helpers.time_utils import utc_now
from logic.ingest.runner import exclusive_with
from models.location import VehicleLocation


def prune_locations(
    retention_days: int,
    *,
    batch_size: int = 10_000,
    now: datetime | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Delete points recorded more than `retention_days` ago; returns how many were deleted."""
    if retention_days < 1:
        raise ValueError("retention must be at least one day")
    cutoff = (now or utc_now()) - timedelta(days=retention_days)
    with exclusive_with("samsara", "locations"):
        return _prune_before(cutoff, batch_size, on_batch)


def _prune_before(cutoff: datetime, batch_size: int, on_batch: Callable[[int], None] | None) -> int:
    total = 0
    while True:
        with session_scope() as session:
            keys = session.execute(
                select(VehicleLocation.vehicle_id, VehicleLocation.recorded_at)
                .where(VehicleLocation.recorded_at < cutoff)
                .limit(batch_size)
            ).all()
            if not keys:
                return total
            key_cols = tuple_(VehicleLocation.vehicle_id, VehicleLocation.recorded_at)
            for start in range(0, len(keys), 400):  # SQLite caps bound parameters
                chunk = [tuple(k) for k in keys[start : start + 400]]
                session.execute(delete(VehicleLocation).where(key_cols.in_(chunk)))
        total += len(keys)
        if on_batch is not None:
            on_batch(total)
