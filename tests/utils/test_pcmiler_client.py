"""PC*MILER client against the sandbox over HTTP: the exact request, string numbers, retries."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from config import Settings
from helpers.errors import UpstreamNotConfigured
from sandbox.credentials import PCMILER_API_KEY
from sandbox.lanes import ROAD_FACTOR, great_circle_miles
from utils.http import VendorAuthError, VendorResponseError, VendorTransientError
from utils.pcmiler_client import (
    GeoPoint,
    PcmilerStopError,
    build_pcmiler_client,
    parse_hours,
    parse_miles,
)

MEMPHIS = GeoPoint(35.1495, -90.049)
DALLAS = GeoPoint(32.7767, -96.797)


@pytest.fixture
def pcmiler(sandbox_clean):
    client = build_pcmiler_client(Settings(**sandbox_clean.settings_env()), retry_wait=0)
    yield client
    client.close()


def test_mileage_request_uses_raw_key_and_lon_lat_stops(pcmiler, sandbox_clean) -> None:
    report = pcmiler.mileage([MEMPHIS, DALLAS])

    [sent] = sandbox_clean.requests("pcmiler")
    assert sent["method"] == "GET"
    assert sent["path"] == "/pcmiler/Service.svc/route/routeReports"
    assert sent["headers"]["authorization"] == PCMILER_API_KEY  # raw key, no "Bearer"
    assert sent["query"] == {
        "stops": "-90.049000,35.149500;-96.797000,32.776700",
        "reports": "Mileage",
        "vehType": "0",
        "routing": "0",
        "distUnits": "0",
        "dataVersion": "Current",
    }
    expected = great_circle_miles(MEMPHIS.lat, MEMPHIS.lon, DALLAS.lat, DALLAS.lon) * ROAD_FACTOR
    assert report.miles == pytest.approx(expected, abs=0.001)
    assert report.drive_minutes == round(expected / 57.5 * 60)
    assert report.lines[0].total_miles == 0
    assert report.lines[-1].city == "Dallas"
    assert report.lines[-1].state == "TX"


def test_hours_with_seconds_are_parsed_as_minutes(pcmiler) -> None:
    report = pcmiler.mileage([MEMPHIS, DALLAS], hours_with_seconds=True)
    # h:mm:ss keeps the seconds that h:mm would round away.
    assert report.drive_minutes == pytest.approx(report.miles / 57.5 * 60, abs=0.02)


@pytest.mark.parametrize(
    ("value", "minutes"), [("7:41", 461), ("0:00", 0), ("12:05:30", 725.5), (None, 0)]
)
def test_parse_hours(value, minutes) -> None:
    assert parse_hours(value) == minutes


def test_parse_miles_and_bad_values() -> None:
    assert parse_miles("452.318") == 452.318
    assert parse_miles("1,204.5") == 1204.5
    assert parse_miles(12) == 12.0
    with pytest.raises(VendorResponseError):
        parse_miles("n/a")
    with pytest.raises(VendorResponseError):
        parse_hours("7.5h")


def test_stop_off_the_road_network_is_rejected_not_retried(pcmiler, sandbox_clean) -> None:
    with pytest.raises(PcmilerStopError, match="Could not geocode"):
        pcmiler.mileage([MEMPHIS, GeoPoint(51.5072, -0.1276)])  # London
    assert len(sandbox_clean.requests("pcmiler")) == 1


def test_wrong_key_is_an_auth_error_without_retry(sandbox_clean, caplog) -> None:
    env = {**sandbox_clean.settings_env(), "PCMILER_API_KEY": "wrong-key-123"}
    client = build_pcmiler_client(Settings(**env), retry_wait=0)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(VendorAuthError) as caught:
        client.mileage([MEMPHIS, DALLAS])
    assert caught.value.status == 401
    assert "denied" in str(caught.value)
    assert "wrong-key-123" not in str(caught.value)
    assert "wrong-key-123" not in caplog.text
    assert len(sandbox_clean.requests("pcmiler")) == 1


def test_429_with_fractional_retry_after_then_success(pcmiler, sandbox_clean) -> None:
    sandbox_clean.fault("pcmiler", "429", count=1, retry_after=0.25)
    started = time.monotonic()
    report = pcmiler.mileage([MEMPHIS, DALLAS])
    assert time.monotonic() - started >= 0.25
    assert report.miles > 400
    assert len(sandbox_clean.requests("pcmiler")) == 2


def test_5xx_exhaustion_is_transient_after_three_attempts(pcmiler, sandbox_clean) -> None:
    sandbox_clean.fault("pcmiler", "5xx", count=3)
    with pytest.raises(VendorTransientError) as caught:
        pcmiler.mileage([MEMPHIS, DALLAS])
    assert caught.value.status == 503
    assert len(sandbox_clean.requests("pcmiler")) == 3


def test_malformed_json_is_a_clear_error(pcmiler, sandbox_clean) -> None:
    sandbox_clean.fault("pcmiler", "malformed", count=3)
    with pytest.raises(VendorResponseError, match="malformed JSON"):
        pcmiler.mileage([MEMPHIS, DALLAS])


def test_factory_refuses_without_key() -> None:
    with pytest.raises(UpstreamNotConfigured, match="PCMILER_API_KEY"):
        build_pcmiler_client(Settings(PCMILER_API_KEY=""))


def test_geopoint_refuses_out_of_range_coordinates() -> None:
    with pytest.raises(ValueError, match="out of range"):
        GeoPoint(-96.797, 32.7767 + 200)


@pytest.mark.parametrize(
    ("stops", "status", "needle"),
    [
        # Dallas latitude first: a longitude of 32.78 and a latitude of -96.80, out of range.
        ("-90.049,35.1495;32.7767,-96.797", 400, "latitude must be within -90..90"),
        # Atlanta latitude first is in range but lands in Antarctica, off any road network.
        ("-90.049,35.1495;33.749,-84.388", 200, "Could not geocode"),
    ],
    ids=["out-of-range", "antarctica"],
)
def test_sandbox_refuses_latitude_first_stops(sandbox_clean, stops, status, needle) -> None:
    response = httpx.get(
        f"{sandbox_clean.vendor_url('pcmiler')}/Service.svc/route/routeReports",
        params={"stops": stops, "reports": "Mileage"},
        headers={"Authorization": PCMILER_API_KEY},
    )
    assert response.status_code == status
    assert needle in response.text
