"""call.dial_started_at: a queued call whose dial began is reconciled, never dialed again

Revision ID: a1c3d5e7f901
Revises: a3c4d5e6f701
Create Date: 2026-12-06 02:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.types

revision: str = "a1c3d5e7f901"
down_revision: str | Sequence[str] | None = "a3c4d5e6f701"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("call") as batch:
        batch.add_column(sa.Column("dial_started_at", db.types.UTCDateTime(), nullable=True))
    # Calls placed before this column existed were dialed in the same transaction that wrote
    # them: the ones the provider accepted were sent.
    op.execute('UPDATE "call" SET dial_started_at = dialed_at WHERE dialed_at IS NOT NULL')


def downgrade() -> None:
    with op.batch_alter_table("call") as batch:
        batch.drop_column("dial_started_at")
