"""The customers migration turns the free-text trip customers already stored into one customer
per normalised name and links every trip to it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from db import migrations
from tests.db.test_migrations import scratch  # noqa: F401 (the empty-schema fixture)

BEFORE = "e7f9a1b3c5d7"
CUSTOMERS = "f1a2b3c4d5e6"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_existing_trips_get_one_customer_per_normalised_name(scratch):  # noqa: F811
    migrations.upgrade(scratch, BEFORE)
    with scratch.begin() as conn:
        for trip_id, customer in (
            (1, "Acme Foods"),
            (2, "  ACME   foods "),
            (3, "Blue Ridge Logistics"),
            (4, None),
            (5, "   "),
        ):
            conn.execute(
                text(
                    "INSERT INTO trip (id, ditat_id, customer, created_at, updated_at)"
                    " VALUES (:id, :d, :c, :now, :now)"
                ),
                {"id": trip_id, "d": f"SH-{trip_id}", "c": customer, "now": NOW},
            )

    migrations.upgrade(scratch, CUSTOMERS)

    with scratch.connect() as conn:
        customers = dict(conn.execute(text("SELECT key, name FROM customer")).all())
        links = dict(
            conn.execute(
                text("SELECT t.id, c.key FROM trip t LEFT JOIN customer c ON c.id = t.customer_id")
            ).all()
        )
    assert customers == {"acme foods": "Acme Foods", "blue ridge logistics": "Blue Ridge Logistics"}
    assert links == {
        1: "acme foods",
        2: "acme foods",
        3: "blue ridge logistics",
        4: None,
        5: None,
    }
