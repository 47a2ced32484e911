"""call_campaign.contact_plan_id: a campaign reaches its drivers with a contact plan

Revision ID: 1b27ea5265ef
Revises: ce9ab17c37e5
Create Date: 2026-12-06 07:02:26.323744
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1b27ea5265ef"
down_revision: str | Sequence[str] | None = "ce9ab17c37e5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("call_campaign") as batch:
        batch.add_column(sa.Column("contact_plan_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_call_campaign_contact_plan_id_contact_plan",
            "contact_plan",
            ["contact_plan_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("call_campaign") as batch:
        batch.drop_constraint("fk_call_campaign_contact_plan_id_contact_plan", type_="foreignkey")
        batch.drop_column("contact_plan_id")
