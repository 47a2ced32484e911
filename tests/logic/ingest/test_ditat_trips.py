"""Ditat trips from the sandbox dispatch board arrive with their customer (normalised into one
`Customer` per name) and terminal."""

from __future__ import annotations

from sqlmodel import Session, select

from logic.ingest.jobs import run_ingest
from models.customer import Customer, customer_key
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


def test_each_customer_name_becomes_one_customer_linked_to_its_trips(session: Session, fleet):
    for entity in ("drivers", "trucks", "trailers", "trips"):
        assert run_ingest("ditat", entity).status == "succeeded"
    assert run_ingest("ditat", "trips").status == "succeeded"  # a re-run adds no customer

    trips = session.exec(select(Trip)).all()
    customers = {c.id: c for c in session.exec(select(Customer)).all()}
    assert len(customers) == len({t.customer for t in trips})
    for trip in trips:
        assert customers[trip.customer_id].key == customer_key(trip.customer)
        assert customers[trip.customer_id].name == trip.customer
