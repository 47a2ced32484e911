"""The map draws a selected truck's planned route: a line through its trip's stops in order and
a dashed one from the truck to the next stop, opened from the board's trip panel; a trip whose
stops have no map position draws none and says the route is unknown."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
from sqlmodel import select

from tests.browser.conftest import ARTIFACTS, log_in

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

UNKNOWN_UNIT = "ROUTE-UNKNOWN"


def _trip_with_placed_stops(stack) -> dict:
    headers = stack.headers(stack.admin)
    active = httpx.get(
        f"{stack.url}/trips?status=in_transit&status=dispatched&limit=200", headers=headers
    ).json()
    for item in active["items"]:
        if not (item["vehicle"] and item["last_position"]):
            continue
        trip = httpx.get(f"{stack.url}/trips/{item['id']}", headers=headers).json()
        placed = [s for s in trip["stops"] if s["latitude"] is not None]
        if len(placed) >= 2 and trip["next_stop"] and trip["next_stop"]["latitude"] is not None:
            return trip
    raise AssertionError("the demo fleet has no active trip with two placed stops")


@pytest.fixture
def unplaced_trip(console_stack):
    """A truck on the map whose active trip's stops have no coordinates (an address Ditat could
    not place): its route is unknown."""
    from db.database import session_scope
    from models.location import VehicleLocation
    from models.trip import Trip, TripStop
    from models.vehicle import Vehicle
    from tests.factories import make_location, make_trip, make_vehicle

    with session_scope() as session:
        truck = make_vehicle(session, unit_number=UNKNOWN_UNIT)
        make_location(session, vehicle=truck, recorded_at=datetime.now(UTC))
        trip = make_trip(
            session,
            vehicle=truck,
            status="in_transit",
            stops=[{"latitude": None, "longitude": None}, {"latitude": None, "longitude": None}],
        )
        ids = truck.id, trip.id
    yield ids
    with session_scope() as session:
        for model, column, key in (
            (TripStop, TripStop.trip_id, ids[1]),
            (Trip, Trip.id, ids[1]),
            (VehicleLocation, VehicleLocation.vehicle_id, ids[0]),
            (Vehicle, Vehicle.id, ids[0]),
        ):
            for row in session.exec(select(model).where(column == key)):
                session.delete(row)
            session.flush()


def test_the_selected_trucks_planned_route_is_drawn_and_an_unknown_one_is_not(
    page, console_stack, unplaced_trip
):
    trip = _trip_with_placed_stops(console_stack)
    placed = sorted(
        (s for s in trip["stops"] if s["latitude"] is not None), key=lambda s: s["sequence"]
    )
    log_in(page, console_stack.admin)
    # From the trip's panel on the board to the map, the truck opened.
    page.goto(f"/console/#board/{trip['id']}")
    page.locator("#trip-detail .verdict").wait_for()
    page.locator("#trip-detail").get_by_role("link", name=re.compile("on the map")).click()
    page.locator("#view[data-view='map'][data-ready]").wait_for()
    assert page.evaluate("location.hash") == f"#map/{trip['vehicle']['id']}"
    route = page.locator("svg.map path.route")
    route.wait_for()
    # One vertex per placed stop, in order; the truck's leg to its next stop dashed beside it.
    vertices = re.findall(r"[ML]([\d.]+),([\d.]+)", route.get_attribute("d"))
    assert len(vertices) == len(placed)
    assert page.locator("svg.map path.route-ahead").count() == 1
    assert page.locator("svg.map circle.route-stop").count() == len(placed)
    summary = page.locator("#route-summary").inner_text()
    assert "Planned route" in summary
    names = [s["name"] for s in placed if s["name"]]
    assert names and all(name in summary for name in names), summary
    assert summary.index(names[0]) < summary.index(names[-1])  # in stop order
    for width in (1400, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(ARTIFACTS / f"view-map-route-{width}.png"), full_page=True)

    # Another truck on the same map, whose stops have no position: no route, and why.
    page.locator(f"svg.map circle.truck[aria-label^='Truck {UNKNOWN_UNIT}']").click()
    page.locator("#truck-detail h3", has_text=UNKNOWN_UNIT).wait_for()
    page.locator("#route-summary", has_text="unknown").wait_for()
    assert "no map position" in page.locator("#route-summary").inner_text()
    assert page.locator("svg.map path.route, svg.map path.route-ahead").count() == 0
    assert page.locator("svg.map circle.route-stop").count() == 0
