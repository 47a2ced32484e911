"""webhook inbox: partial index of pending events replaces the processed_at index

Revision ID: dce7b0840d2f
Revises: 2027adf5ce13
Create Date: 2026-12-04 19:29:05.151192
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "dce7b0840d2f"
down_revision: str | Sequence[str] | None = "2027adf5ce13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index(op.f("ix_webhook_event_unprocessed"), table_name="webhook_event")
    op.create_index(
        "ix_webhook_event_pending",
        "webhook_event",
        ["call_id", "received_at"],
        unique=False,
        postgresql_where=sa.text("processed_at IS NULL"),
        sqlite_where=sa.text("processed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_webhook_event_pending",
        table_name="webhook_event",
        postgresql_where=sa.text("processed_at IS NULL"),
        sqlite_where=sa.text("processed_at IS NULL"),
    )
    op.create_index(
        op.f("ix_webhook_event_unprocessed"),
        "webhook_event",
        ["processed_at", "received_at"],
        unique=False,
    )
