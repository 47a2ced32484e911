"""driver reports: a day without a mileage basis is not scored (score_withheld_reason)

Until this release a driver day with no miles (none from positions, no delivered trip) was scored
as if nothing went wrong — 100 for a driver with 13 drive hours (issue 21.3). `safety_score`
becomes nullable and `score_withheld_reason` says why a day was not scored. Data fix: stored
days with no miles lose their score and trends, with the reason, and `generated_at` moves so the
warehouse export sends them again. Regenerating a date (`hub reports` / the API) recomputes its
miles from the truck the driver drove, which scores the days whose trucks reported positions.
An existing BigQuery `driver_reports` table needs the same change (`bq update` from
bigquery/schemas/driver_reports.json; README, "Warehouse") before the next export.

Revision ID: 8b4d2c9e6f10
Revises: 5e1f0a7c3b21
Create Date: 2026-12-06 03:30:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import db.types

revision: str = "8b4d2c9e6f10"
down_revision: str | Sequence[str] | None = "5e1f0a7c3b21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

driver_report = sa.table(
    "driver_report",
    sa.column("miles", sa.Float),
    sa.column("drive_hours", sa.Float),
    sa.column("safety_score", sa.Float),
    sa.column("score_withheld_reason", sa.String),
    sa.column("trend_7d", sa.Float),
    sa.column("trend_30d", sa.Float),
    sa.column("generated_at", db.types.UTCDateTime()),
)


def withhold_unmeasured_days(connection: sa.Connection, *, now: datetime) -> int:
    """Take the score off every stored day without miles; returns the rows changed."""
    no_miles = sa.and_(driver_report.c.miles <= 0, driver_report.c.safety_score.is_not(None))
    changed = 0
    for drove, reason in (
        (
            driver_report.c.drive_hours > 0,
            "no mileage basis: drive hours but no miles from the truck driven "
            "(no GPS positions or odometer) and no delivered trip",
        ),
        (driver_report.c.drive_hours <= 0, "no mileage basis: no miles driven"),
    ):
        result = connection.execute(
            sa.update(driver_report)
            .where(no_miles, drove)
            .values(
                safety_score=None,
                score_withheld_reason=reason,
                trend_7d=None,
                trend_30d=None,
                generated_at=now,
            )
        )
        changed += result.rowcount
    return changed


def upgrade() -> None:
    with op.batch_alter_table("driver_report", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("score_withheld_reason", sa.String(length=200), nullable=True)
        )
        batch_op.alter_column("safety_score", existing_type=sa.Float(), nullable=True)
    withhold_unmeasured_days(op.get_bind(), now=datetime.now(UTC))


def downgrade() -> None:
    # The previous release cannot store a day without a score; it scored such days 100.
    op.execute(
        sa.update(driver_report)
        .where(driver_report.c.safety_score.is_(None))
        .values(safety_score=100.0)
    )
    with op.batch_alter_table("driver_report", schema=None) as batch_op:
        batch_op.alter_column("safety_score", existing_type=sa.Float(), nullable=False)
        batch_op.drop_column("score_withheld_reason")
