"""Customer notices over HTTP: the scheduler's pass (service key or alerts:evaluate) and the
notices of a trip, paginated, for trips:read."""

from __future__ import annotations

from datetime import timedelta

from helpers.time_utils import utc_now
from models.customer import Customer, CustomerContact
from tests.factories import make_trip

API_KEY = {"X-API-Key": "test-service-api-key"}


def _arrived_trip(session):
    customer = Customer(name="Acme Foods", key="acme foods")
    session.add(customer)
    session.flush()
    for n in range(3):
        session.add(
            CustomerContact(
                customer_id=customer.id, name=f"C{n}", email=f"c{n}@acme.test", notices=["arrived"]
            )
        )
    trip = make_trip(
        session,
        status="in_transit",
        customer_id=customer.id,
        stops=[{"arrived_at": utc_now() - timedelta(minutes=5)}, {}],
    )
    session.commit()
    return trip


def test_the_pass_queues_and_the_trip_lists_its_notices_in_pages(client, session, auth_headers):
    trip = _arrived_trip(session)
    assert client.post("/customer-notices/run").status_code == 401
    ran = client.post("/customer-notices/run", headers=API_KEY)
    assert ran.status_code == 200, ran.text
    body = ran.json()
    assert body["events"] == {"arrived": 1} and body["queued"] == 3
    assert set(body["timings_ms"]) >= {"arrivals", "departures", "detention", "eta", "queue"}

    reader = auth_headers(role="viewer")
    page = client.get(f"/trips/{trip.id}/notices", params={"limit": 2}, headers=reader)
    assert page.status_code == 200
    listed = page.json()
    assert listed["total"] == 3 and len(listed["items"]) == 2
    assert listed["items"][0]["id"] > listed["items"][1]["id"]  # newest first
    assert {i["kind"] for i in listed["items"]} == {"arrived"}
    assert client.get(f"/trips/{trip.id}/notices").status_code == 401
    assert client.get("/trips/999999/notices", headers=reader).status_code == 404
    bad = client.get(f"/trips/{trip.id}/notices", params={"sort": "email"}, headers=reader)
    assert bad.status_code == 422


def test_a_dispatcher_may_not_run_the_pass(client, auth_headers):
    dispatcher = auth_headers(role="dispatcher")
    assert client.post("/customer-notices/run", headers=dispatcher).status_code == 403
