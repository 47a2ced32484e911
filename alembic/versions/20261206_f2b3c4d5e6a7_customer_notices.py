"""customer_notice: the outbox of notices emailed to a load's customer contacts

Revision ID: f2b3c4d5e6a7
Revises: d160d06f0256
Create Date: 2026-12-06 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.types

revision: str = "f2b3c4d5e6a7"
down_revision: str | Sequence[str] | None = "d160d06f0256"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trip_id", sa.Integer(), nullable=False),
        sa.Column("stop_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("dedupe_key", sa.String(length=120), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("eta", db.types.UTCDateTime(), nullable=True),
        sa.Column("requested_by", sa.String(length=80), nullable=False),
        sa.Column(
            "facts",
            sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", db.types.UTCDateTime(), nullable=False),
        sa.Column("claimed_until", db.types.UTCDateTime(), nullable=True),
        sa.Column("claim_token", sa.String(length=40), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("sent_at", db.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["trip_id"], ["trip.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["stop_id"], ["trip_stop.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["contact_id"], ["customer_contact.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contact_id", "dedupe_key", name="uq_customer_notice_event"),
    )
    op.create_index(
        "ix_customer_notice_due", "customer_notice", ["status", "next_attempt_at"], unique=False
    )
    op.create_index(
        "ix_customer_notice_stop_kind",
        "customer_notice",
        ["stop_id", "kind", "created_at"],
        unique=False,
    )
    op.create_index("ix_customer_notice_trip", "customer_notice", ["trip_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_customer_notice_trip", table_name="customer_notice")
    op.drop_index("ix_customer_notice_stop_kind", table_name="customer_notice")
    op.drop_index("ix_customer_notice_due", table_name="customer_notice")
    op.drop_table("customer_notice")
