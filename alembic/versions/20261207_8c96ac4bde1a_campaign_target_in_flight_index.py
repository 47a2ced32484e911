"""campaign_target: partial index of in-flight targets (dialing, in_call) for the tick

Revision ID: 8c96ac4bde1a
Revises: 1b27ea5265ef
Create Date: 2026-12-07 01:01:00.359456
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8c96ac4bde1a"
down_revision: str | Sequence[str] | None = "1b27ea5265ef"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_campaign_target_in_flight",
        "campaign_target",
        ["driver_id", "campaign_id"],
        unique=False,
        postgresql_where=sa.text("state IN ('dialing', 'in_call')"),
        sqlite_where=sa.text("state IN ('dialing', 'in_call')"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_campaign_target_in_flight",
        table_name="campaign_target",
        postgresql_where=sa.text("state IN ('dialing', 'in_call')"),
        sqlite_where=sa.text("state IN ('dialing', 'in_call')"),
    )
