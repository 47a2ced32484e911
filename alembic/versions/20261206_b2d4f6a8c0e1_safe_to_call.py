"""safe to call: call_agent_profile.hands_free_allowed, campaign_target.defer_reason

Revision ID: b2d4f6a8c0e1
Revises: c4d5e6f7a812
Create Date: 2026-12-06 04:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b2d4f6a8c0e1"
down_revision: str | Sequence[str] | None = "c4d5e6f7a812"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("call_agent_profile") as batch:
        batch.add_column(
            sa.Column("hands_free_allowed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("campaign_target") as batch:
        batch.add_column(sa.Column("defer_reason", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaign_target") as batch:
        batch.drop_column("defer_reason")
    with op.batch_alter_table("call_agent_profile") as batch:
        batch.drop_column("hands_free_allowed")
