"""Ditat trips from the sandbox dispatch board arrive with their customer and terminal."""

from __future__ import annotations

from sqlmodel import Session, select

from logic.ingest.jobs import run_ingest
from models.trip import Trip
from tests.ingest_support import fleet_fixture  # noqa: F401


def test_every_ingested_trip_has_a_customer_and_a_terminal(session: Session, fleet) -> None:
    for entity in ("drivers", "trucks", "trailers", "trips"):
        assert run_ingest("ditat", entity).status == "succeeded"

    trips = session.exec(select(Trip)).all()
    assert trips
    for trip in trips:
        expected = fleet.simulator.trip_by_shipment(trip.load_number)
        assert trip.customer == expected.customer
        assert trip.terminal == expected.vehicle.driver.home.name
