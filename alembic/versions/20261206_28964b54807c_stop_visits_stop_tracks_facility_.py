"""stop visits, stop tracks, facility geofences

Revision ID: 28964b54807c
Revises: 8b4d2c9e6f10
Create Date: 2026-12-06 02:53:31.113719
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import db.types

revision: str = "28964b54807c"
down_revision: str | Sequence[str] | None = "8b4d2c9e6f10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "facility_geofence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("samsara_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("formatted_address", sa.String(length=1024), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("radius_meters", sa.Float(), nullable=True),
        sa.Column(
            "vertices",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "updated_at", db.types.UTCDateTime(), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("samsara_id"),
    )
    op.create_table(
        "stop_track",
        sa.Column("trip_id", sa.Integer(), nullable=False),
        sa.Column("stop_id", sa.Integer(), nullable=False),
        sa.Column("inside", sa.Boolean(), nullable=False),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("streak_started_at", db.types.UTCDateTime(), nullable=True),
        sa.Column("watermark", db.types.UTCDateTime(), nullable=False),
        sa.Column("inner_miles", sa.Float(), nullable=False),
        sa.Column("outer_miles", sa.Float(), nullable=False),
        sa.Column("updated_at", db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["stop_id"], ["trip_stop.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["trip_id"], ["trip.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("trip_id"),
    )
    op.create_table(
        "stop_visit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trip_id", sa.Integer(), nullable=False),
        sa.Column("stop_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("customer", sa.String(length=200), nullable=True),
        sa.Column("facility", sa.String(length=200), nullable=True),
        sa.Column("arrived_at", db.types.UTCDateTime(), nullable=False),
        sa.Column("departed_at", db.types.UTCDateTime(), nullable=True),
        sa.Column("late_minutes", sa.Integer(), nullable=True),
        sa.Column("free_minutes", sa.Integer(), nullable=False),
        sa.Column("detention_started_at", db.types.UTCDateTime(), nullable=False),
        sa.Column("detention_minutes", sa.Integer(), nullable=False),
        sa.Column("dwell_minutes", sa.Integer(), nullable=True),
        sa.Column("geofence", sa.String(length=80), nullable=True),
        sa.Column(
            "created_at", db.types.UTCDateTime(), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column(
            "updated_at", db.types.UTCDateTime(), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(["stop_id"], ["trip_stop.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["trip_id"], ["trip.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("stop_id", "source", name="uq_stop_visit_stop_source"),
    )
    op.create_index("ix_stop_visit_arrived_at", "stop_visit", ["arrived_at"], unique=False)
    op.create_index(
        "ix_stop_visit_open",
        "stop_visit",
        ["trip_id"],
        unique=False,
        postgresql_where=sa.text("departed_at IS NULL"),
        sqlite_where=sa.text("departed_at IS NULL"),
    )
    op.create_index(op.f("ix_stop_visit_trip_id"), "stop_visit", ["trip_id"], unique=False)
    op.add_column("trip_stop", sa.Column("visit_arrived_at", db.types.UTCDateTime(), nullable=True))
    op.add_column(
        "trip_stop", sa.Column("visit_departed_at", db.types.UTCDateTime(), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("trip_stop", "visit_departed_at")
    op.drop_column("trip_stop", "visit_arrived_at")
    op.drop_index(op.f("ix_stop_visit_trip_id"), table_name="stop_visit")
    op.drop_index(
        "ix_stop_visit_open",
        table_name="stop_visit",
        postgresql_where=sa.text("departed_at IS NULL"),
        sqlite_where=sa.text("departed_at IS NULL"),
    )
    op.drop_index("ix_stop_visit_arrived_at", table_name="stop_visit")
    op.drop_table("stop_visit")
    op.drop_table("stop_track")
    op.drop_table("facility_geofence")
