"""route_refresh_claim: a pass claims a trip's route refresh before asking PC*MILER

Revision ID: a3c5e7f9b1d2
Revises: 69bbd92e5d52
Create Date: 2026-12-06 06:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.types

revision: str = "a3c5e7f9b1d2"
down_revision: str | Sequence[str] | None = "69bbd92e5d52"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "route_refresh_claim",
        sa.Column("trip_id", sa.Integer(), nullable=False),
        sa.Column("claimed_until", db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["trip_id"], ["trip.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("trip_id"),
    )


def downgrade() -> None:
    op.drop_table("route_refresh_claim")
