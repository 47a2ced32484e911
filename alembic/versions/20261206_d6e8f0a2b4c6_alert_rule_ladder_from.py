"""alertrule.ladder_from: AI check calls of a rule climb only alerts opened after it was armed

Revision ID: d6e8f0a2b4c6
Revises: b2d4f6a8c0e1
Create Date: 2026-12-06 04:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.types

revision: str = "d6e8f0a2b4c6"
down_revision: str | Sequence[str] | None = "b2d4f6a8c0e1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing rules keep climbing every open alert (NULL), as they did before.
    with op.batch_alter_table("alertrule") as batch:
        batch.add_column(sa.Column("ladder_from", db.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alertrule") as batch:
        batch.drop_column("ladder_from")
