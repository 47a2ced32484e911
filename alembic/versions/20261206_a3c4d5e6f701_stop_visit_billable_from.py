"""stop visit: billable_from (detention clock start + free time), filled for stored visits

Revision ID: a3c4d5e6f701
Revises: 28964b54807c
Create Date: 2026-12-06 03:40:00
"""

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

import db.types

revision: str = "a3c4d5e6f701"
down_revision: str | Sequence[str] | None = "28964b54807c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("stop_visit", sa.Column("billable_from", db.types.UTCDateTime(), nullable=True))
    # Data fix: visits stored before the column know their clock start and free time.
    visit = sa.table(
        "stop_visit",
        sa.column("id", sa.Integer),
        sa.column("detention_started_at", db.types.UTCDateTime()),
        sa.column("free_minutes", sa.Integer),
        sa.column("billable_from", db.types.UTCDateTime()),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(visit.c.id, visit.c.detention_started_at, visit.c.free_minutes)
    ).all()
    for visit_id, started, free in rows:
        bind.execute(
            visit.update()
            .where(visit.c.id == visit_id)
            .values(billable_from=started + timedelta(minutes=free))
        )


def downgrade() -> None:
    op.drop_column("stop_visit", "billable_from")
