"""driver_report.reach: reach per channel and per contact-plan step (existing days: {})

Revision ID: ce9ab17c37e5
Revises: a3c5e7f9b1d2
Create Date: 2026-12-06 06:35:22.177028
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "ce9ab17c37e5"
down_revision: str | Sequence[str] | None = "a3c5e7f9b1d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "driver_report",
        sa.Column(
            "reach",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="{}",
            nullable=False,
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("driver_report") as batch:
        batch.drop_column("reach")
