"""trip legal eta and cached route

Revision ID: 30e80b018cf7
Revises: dce7b0840d2f
Create Date: 2026-12-06 02:42:13.312612
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import db.types

revision: str = "30e80b018cf7"
down_revision: str | Sequence[str] | None = "dce7b0840d2f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # No data fix: the new columns are derived state, filled by the next evaluation pass.
    op.create_table(
        "trip_route",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trip_id", sa.Integer(), nullable=False),
        sa.Column("stops_key", sa.String(length=400), nullable=False),
        sa.Column("origin_lat", sa.Float(), nullable=False),
        sa.Column("origin_lon", sa.Float(), nullable=False),
        sa.Column(
            "leg_miles",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "leg_minutes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("fetched_at", db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["trip_id"], ["trip.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("trip_id"),
    )
    op.add_column("trip", sa.Column("eta_next_stop_legal", db.types.UTCDateTime(), nullable=True))
    op.add_column("trip", sa.Column("eta_final_legal", db.types.UTCDateTime(), nullable=True))
    op.add_column("trip", sa.Column("hos_binding_clock", sa.String(length=10), nullable=True))
    op.add_column("trip", sa.Column("hos_binds_at", db.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("trip", "hos_binds_at")
    op.drop_column("trip", "hos_binding_clock")
    op.drop_column("trip", "eta_final_legal")
    op.drop_column("trip", "eta_next_stop_legal")
    op.drop_table("trip_route")
