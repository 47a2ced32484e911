"""call.transferred_to / transferred_at: a warm transfer to the on-call dispatcher

Revision ID: 69bbd92e5d52
Revises: 908fffea04c8
Create Date: 2026-12-06 06:03:28.304250
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.types

revision: str = "69bbd92e5d52"
down_revision: str | Sequence[str] | None = "908fffea04c8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("call") as batch:
        batch.add_column(sa.Column("transferred_to", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("transferred_at", db.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call") as batch:
        batch.drop_column("transferred_at")
        batch.drop_column("transferred_to")
