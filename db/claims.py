"""Claiming due outbox rows for one worker: `FOR UPDATE SKIP LOCKED` on PostgreSQL, and an
UPDATE that re-checks due-ness, which is what makes the claim atomic on SQLite."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlmodel import Session


def claim_due_rows(
    session: Session,
    model: Any,
    due: ColumnElement[bool],
    *,
    sending_status: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    token: str,
) -> list[int]:
    """Mark up to `limit` due rows of `model` as ours (oldest first); returns their ids in order.

    Two statements on purpose: PostgreSQL may re-run an `IN (SELECT … LIMIT … FOR UPDATE SKIP
    LOCKED)` subquery per row and claim more than `limit` rows (measured).
    """
    pick = select(model.id).where(due).order_by(model.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    ids = list(session.scalars(pick))
    if not ids:
        return []
    stmt = (
        update(model)
        .where(model.id.in_(ids), due)
        .values(status=sending_status, claim_token=token, claimed_until=now + lease)
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(session.execute(stmt).scalars().all())
