"""ElevenLabs calls dated 1970: re-read their stored times as unix seconds (data fix)

Until this release the webhook handler read ElevenLabs' `metadata.start_time_unix_secs` and
`event_timestamp` as epoch milliseconds (issue 21.1), so those calls started on 1970-01-21 and
their events were dated the same way. A stored value `v` was `seconds / 1000`; the true time is
`epoch + (v - epoch) x 1000`. Only ElevenLabs rows before 1971 are touched (no real call is that
old), `ended_at` keeps its distance from `started_at` (it was computed as start + duration), and
`updated_at` moves so the warehouse export sends the repaired calls again.

Revision ID: 5e1f0a7c3b21
Revises: 30e80b018cf7
Create Date: 2026-12-06 03:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import db.types

revision: str = "5e1f0a7c3b21"
down_revision: str | Sequence[str] | None = "30e80b018cf7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MISREAD_BEFORE = datetime(1971, 1, 1, tzinfo=UTC)

call = sa.table(
    "call",
    sa.column("id", sa.Integer),
    sa.column("provider", sa.String),
    sa.column("started_at", db.types.UTCDateTime()),
    sa.column("ended_at", db.types.UTCDateTime()),
    sa.column("updated_at", db.types.UTCDateTime()),
)
webhook_event = sa.table(
    "webhook_event",
    sa.column("id", sa.Integer),
    sa.column("provider", sa.String),
    sa.column("occurred_at", db.types.UTCDateTime()),
)


def as_seconds(misread: datetime) -> datetime:
    """The time a value read as epoch ms really meant (whole milliseconds, as it was stored)."""
    return EPOCH + (misread - EPOCH) * 1000


def repair(connection: sa.Connection, *, now: datetime) -> int:
    """Re-date every misread ElevenLabs call and webhook event; returns the calls repaired."""
    rows = connection.execute(
        sa.select(call.c.id, call.c.started_at, call.c.ended_at).where(
            call.c.provider == "elevenlabs", call.c.started_at < MISREAD_BEFORE
        )
    ).all()
    for row in rows:
        started = as_seconds(row.started_at)
        ended = row.ended_at
        if ended is not None and ended < MISREAD_BEFORE:
            ended = started + (ended - row.started_at)
        connection.execute(
            sa.update(call)
            .where(call.c.id == row.id)
            .values(started_at=started, ended_at=ended, updated_at=now)
        )
    events = connection.execute(
        sa.select(webhook_event.c.id, webhook_event.c.occurred_at).where(
            webhook_event.c.provider == "elevenlabs",
            webhook_event.c.occurred_at < MISREAD_BEFORE,
        )
    ).all()
    for event in events:
        connection.execute(
            sa.update(webhook_event)
            .where(webhook_event.c.id == event.id)
            .values(occurred_at=as_seconds(event.occurred_at))
        )
    return len(rows)


def upgrade() -> None:
    repair(op.get_bind(), now=datetime.now(UTC))


def downgrade() -> None:
    # The 1970 dates were wrong; going back to the previous release keeps the right ones.
    pass
