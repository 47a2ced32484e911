"""DitatClient against the sandbox over real HTTP: login, re-login, envelopes, paging, retries."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from sandbox import credentials as cred
from utils.ditat_client import DitatApplicationError, DitatClient
from utils.http import VendorAuthError, VendorResponseError, VendorTransientError

T0 = datetime(2025, 3, 1, 14, 0, tzinfo=UTC)
BASIC = (
    "Basic " + base64.b64encode(f"{cred.DITAT_USERNAME}:{cred.DITAT_PASSWORD}".encode()).decode()
)


def _client(sandbox, **options) -> DitatClient:
    http = httpx.Client(base_url=sandbox.vendor_url("ditat"), timeout=5.0)
    defaults = {
        "account_id": cred.DITAT_ACCOUNT_ID,
        "username": cred.DITAT_USERNAME,
        "password": cred.DITAT_PASSWORD,
        "page_size": 10,
        "retry_wait": 0.001,
    }
    return DitatClient(http, **{**defaults, **options})


@pytest.fixture
def fleet(sandbox_clean):
    sandbox_clean.freeze_clock(T0)
    return sandbox_clean


@pytest.fixture
def client(fleet) -> Iterator[DitatClient]:
    client = _client(fleet)
    yield client
    client.http.close()


def test_login_then_paged_lookup_sends_the_documented_requests(fleet, client):
    drivers = client.lookup_drivers()

    sim = fleet.simulator
    assert [d.driver_id for d in drivers] == [d.ditat_id for d in sim.drivers]
    assert drivers[0].phone and drivers[0].truck_id == sim.vehicles[0].unit
    login, *lookups = fleet.requests("ditat")
    assert login["method"] == "POST" and login["path"] == "/ditat/api/tms/auth/login"
    assert login["headers"]["authorization"] == BASIC
    assert login["headers"]["ditat-account-id"] == cred.DITAT_ACCOUNT_ID
    assert login["headers"]["ditat-application-role"] == "Login to TMS"
    assert login["body"] == ""
    assert [r["path"] for r in lookups] == ["/ditat/api/tms/lookup/drivers"] * 3  # 26 rows / 10
    assert [r["json"]["pageNumber"] for r in lookups] == [1, 2, 3]
    assert lookups[0]["json"]["pageSize"] == 10
    token = lookups[0]["headers"]["authorization"].removeprefix("Ditat-Token ")
    assert token and token.strip('"\n ') == token  # stripped of whitespace and quotes


def test_expired_token_triggers_exactly_one_relogin(fleet, client):
    client.lookup_trucks()
    fleet.fault("ditat", "expire_token")

    trucks = client.lookup_trucks()

    assert len(trucks) == 25 and client.logins == 2
    paths = [r["path"].rsplit("/", 1)[-1] for r in fleet.requests("ditat")]
    assert paths == [
        "login",
        "trucks",
        "trucks",
        "trucks",
        "trucks",
        "login",
        "trucks",
        "trucks",
        "trucks",
    ]
    second_token = fleet.requests("ditat")[-1]["headers"]["authorization"]
    assert second_token.startswith("Ditat-Token ") and '"' not in second_token

    fleet.fault("ditat", "expire_token", count=2)
    with pytest.raises(VendorAuthError):
        client.lookup_trucks()
    assert client.logins == 3  # one re-login, no loop


def test_error_envelope_at_http_200_is_rejected_without_retry(fleet, client):
    shipment_id = fleet.simulator.all_trips()[0].shipment_id
    with pytest.raises(DitatApplicationError) as caught:
        client.entity("shipment", id=shipment_id, include_documents=True)
    assert caught.value.code == 900 and caught.value.status == 200
    detail = [r for r in fleet.requests("ditat") if "/data/" in r["path"]]
    assert len(detail) == 1
    assert detail[0]["query"] == {
        "includeEntityGraph": "true",
        "id": shipment_id,
        "includeDocuments": "true",
    }


def test_dispatch_board_and_shipment_detail_read_keys_case_insensitively(fleet, client):
    trips = client.dispatch_board()  # the sandbox answers with a PascalCase envelope

    sim = fleet.simulator
    assert trips and {t.status for t in trips} <= {
        "Planned",
        "AtPickup",
        "InTransit",
        "AtDelivery",
        "Delivered",
    }
    trip = next(t for t in trips if t.status == "InTransit")
    assert [s.stop_type for s in trip.stops] == ["Pickup", "Delivery"]
    assert fleet.requests("ditat")[-1]["json"] == {"UpdateCounter": 0}

    shipment = client.shipment(trip.shipment_id)
    expected = sim.trip_by_shipment(trip.shipment_id)
    assert shipment.truck_id == expected.vehicle.unit
    assert shipment.primary_driver_id == expected.vehicle.driver.ditat_id
    delivery = shipment.stops[1]
    assert delivery.appointment_to == expected.stops[1].appointment_to
    assert delivery.city == expected.destination.name and delivery.arrived_on is None

    trailers = client.lookup_trailers()  # PascalCase rows
    assert trailers[0].trailer_id == "T-5301" and trailers[0].is_active


def test_shipments_lookup_with_a_filter(fleet, client):
    unit = fleet.simulator.vehicles[2].unit
    rows = client.lookup_shipments(
        [{"columnName": "truckId", "filterType": 5, "filterFromValue": unit, "filterToValue": None}]
    )
    assert rows and {r.truck_id for r in rows} == {unit}


def test_oauth2_mode_uses_client_credentials_and_bearer(fleet):
    client = _client(
        fleet,
        auth_mode="oauth2",
        username="",
        password="",
        client_id=cred.DITAT_CLIENT_ID,
        client_secret=cred.DITAT_CLIENT_SECRET,
    )

    assert len(client.lookup_trucks()) == 25

    token_call, lookup = fleet.requests("ditat")[:2]
    assert token_call["path"] == f"/ditat/identity-provider/{cred.DITAT_ACCOUNT_ID}/connect/token"
    assert "grant_type=client_credentials" in token_call["body"]
    assert token_call["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert lookup["headers"]["authorization"].startswith("Bearer ")


def test_bad_credentials_are_rejected_without_leaking_the_password(fleet):
    client = _client(fleet, password="wrong-password-123")
    with pytest.raises(VendorAuthError) as caught:
        client.lookup_drivers()
    assert "wrong-password-123" not in str(caught.value)
    assert "wrong-password-123" not in repr(client)
    assert len(fleet.requests("ditat")) == 1


def test_transient_failures_retry_then_exhaust(fleet, client):
    fleet.fault("ditat", "429", count=1, retry_after=0.01)
    assert len(client.lookup_trucks()) == 25

    fleet.fault("ditat", "5xx", count=3)
    with pytest.raises(VendorTransientError) as caught:
        client.dispatch_board()
    assert caught.value.status == 503

    fleet.fault("ditat", "malformed", count=3)
    with pytest.raises(VendorResponseError, match="malformed JSON"):
        client.dispatch_board()


def test_updated_after_filter_is_utc_whatever_the_input_zone():
    from datetime import datetime, timedelta, timezone

    from utils.ditat_client import DitatClient

    chicago_noon = datetime(2026, 11, 25, 12, 0, tzinfo=timezone(timedelta(hours=-6)))
    flt = DitatClient.updated_after_filter(chicago_noon)
    assert flt["filterFromValue"] == "2026-11-25T18:00:00.000Z"
