"""customer, customer_contact, trip.customer_id: customers normalised from Ditat's free-text
trip customer, with the contacts who get notices; existing trips are linked

Revision ID: f1a2b3c4d5e6
Revises: e7f9a1b3c5d7
Create Date: 2026-12-06 05:40:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import db.types

revision: str = "f1a2b3c4d5e6"
down_revision: str | Sequence[str] | None = "e7f9a1b3c5d7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_trip = sa.table(
    "trip",
    sa.column("id", sa.Integer),
    sa.column("customer", sa.String),
    sa.column("customer_id", sa.Integer),
)
_customer = sa.table(
    "customer",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("key", sa.String),
    sa.column("created_at", db.types.UTCDateTime),
    sa.column("updated_at", db.types.UTCDateTime),
)


def upgrade() -> None:
    op.create_table(
        "customer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column(
            "created_at", db.types.UTCDateTime(), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column(
            "updated_at", db.types.UTCDateTime(), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "customer_contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column(
            "notices",
            sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "created_at", db.types.UTCDateTime(), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column(
            "updated_at", db.types.UTCDateTime(), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id", "email", name="uq_customer_contact_email"),
    )
    op.create_index(
        "ix_customer_contact_customer_id", "customer_contact", ["customer_id"], unique=False
    )
    with op.batch_alter_table("trip") as batch:
        batch.add_column(sa.Column("customer_id", sa.Integer(), nullable=True))
        batch.create_index("ix_trip_customer_id", ["customer_id"], unique=False)
        batch.create_foreign_key(
            "fk_trip_customer_id_customer", "customer", ["customer_id"], ["id"], ondelete="SET NULL"
        )
    _link_existing_trips()


def _link_existing_trips() -> None:
    """One customer per normalised name already on trips (first spelling in id order wins),
    then every trip pointed at its customer."""
    bind = op.get_bind()
    names = [
        row.customer
        for row in bind.execute(
            sa.select(_trip.c.customer, sa.func.min(_trip.c.id).label("first"))
            .where(_trip.c.customer.is_not(None))
            .group_by(_trip.c.customer)
            .order_by("first")
        )
    ]
    now = datetime.now(UTC)
    ids: dict[str, int] = {}
    for name in names:
        key = customer_key(name)
        if key is None or key in ids:
            continue
        ids[key] = bind.execute(
            sa.insert(_customer)
            .values(name=customer_name(name), key=key, created_at=now, updated_at=now)
            .returning(_customer.c.id)
        ).scalar_one()
    for name in names:
        key = customer_key(name)
        if key is not None:
            bind.execute(
                sa.update(_trip).where(_trip.c.customer == name).values(customer_id=ids[key])
            )


# The rule of models/customer.py as it was when this ran (a migration never changes with the app).
def customer_name(name: str) -> str | None:
    return " ".join(name.split())[:200] or None


def customer_key(name: str) -> str | None:
    return (customer_name(name) or "").casefold()[:200] or None


def downgrade() -> None:
    with op.batch_alter_table("trip") as batch:
        batch.drop_constraint("fk_trip_customer_id_customer", type_="foreignkey")
        batch.drop_index("ix_trip_customer_id")
        batch.drop_column("customer_id")
    op.drop_index("ix_customer_contact_customer_id", table_name="customer_contact")
    op.drop_table("customer_contact")
    op.drop_table("customer")
