"""driver report detention hours; call insight hold reason

Revision ID: c4d5e6f7a812
Revises: b7e2f4a6c810
Create Date: 2026-12-06 04:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c4d5e6f7a812"
down_revision: str | Sequence[str] | None = "b7e2f4a6c810"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Stored reports predate stop visits: zero is what they knew (a rebuild recomputes it).
    op.add_column(
        "driver_report",
        sa.Column("detention_hours", sa.Float(), server_default="0", nullable=False),
    )
    op.add_column("call_insight", sa.Column("hold_reason", sa.String(length=40), nullable=True))


def downgrade() -> None:
    op.drop_column("call_insight", "hold_reason")
    op.drop_column("driver_report", "detention_hours")
