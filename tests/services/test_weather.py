"""`GET /weather`: conditions + NWS alerts at a point or a truck's position, cached per area."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from config import Settings, get_settings
from helpers.time_utils import utc_now
from logic.auth.permissions import Permission
from logic.weather import area_of, weather_at
from models.vendor_cache import WeatherCache
from sandbox.weather import WEATHER_API_KEY_OVER_QUOTA
from services.vendor_deps import current_settings, get_weather_client
from tests.factories import make_location, make_vehicle
from utils.weather_api import build_weather_client

OKC = "lat=35.4676&lon=-97.5164"  # the sandbox's thunderstorm area


@pytest.fixture
def dispatcher(auth_headers):
    return auth_headers(role="dispatcher")


def _install(main_app, settings: Settings) -> None:
    """Point the router's weather provider at `settings` (no backoff between retries)."""

    def provider():
        client = build_weather_client(settings, retry_wait=0)
        yield client
        client.close()

    main_app.dependency_overrides[get_weather_client] = provider


@pytest.fixture
def weather_sandbox(main_app, sandbox_clean):
    _install(main_app, Settings(**sandbox_clean.settings_env()))
    yield sandbox_clean
    main_app.dependency_overrides.pop(get_weather_client, None)


def test_point_weather_with_alerts_is_cached_per_area(
    client, session, dispatcher, weather_sandbox
) -> None:
    response = client.get(f"/weather?{OKC}", headers=dispatcher)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["area"] == "35.5,-97.5"
    assert (body["lat"], body["lon"]) == (35.5, -97.5)
    assert body["cached"] is False and body["alerts_available"] is True
    assert body["conditions"]["location_name"] == "Oklahoma City"
    assert body["conditions"]["gust_mph"] == 62.0
    [alert] = body["alerts"]
    assert alert["event"] == "Severe Thunderstorm Warning"
    assert alert["severity"] == "Severe"

    # A nearby point in the same 0.1° cell is served from the cache.
    nearby = client.get("/weather?lat=35.52&lon=-97.46", headers=dispatcher).json()
    assert nearby["cached"] is True
    assert nearby["alerts"] == body["alerts"]
    assert [r["query"]["q"] for r in weather_sandbox.requests("weather")] == ["35.5000,-97.5000"]
    assert [r["query"]["point"] for r in weather_sandbox.requests("nws")] == ["35.5,-97.5"]
    [row] = session.exec(select(WeatherCache)).all()
    assert (row.expires_at - row.fetched_at).total_seconds() == Settings().WEATHER_CACHE_SECONDS


def test_cache_expires(session, weather_sandbox) -> None:
    client = build_weather_client(Settings(**weather_sandbox.settings_env()), retry_wait=0)
    now = utc_now()
    assert weather_at(session, client, 44.98, -93.27, ttl_seconds=300, now=now).cached is False
    later = now + timedelta(seconds=299)
    assert weather_at(session, client, 44.98, -93.27, ttl_seconds=300, now=later).cached is True
    expired = now + timedelta(seconds=301)
    refreshed = weather_at(session, client, 44.98, -93.27, ttl_seconds=300, now=expired)
    assert refreshed.cached is False and refreshed.alerts == []
    assert len(weather_sandbox.requests("weather")) == 2
    [row] = session.exec(select(WeatherCache)).all()
    assert row.fetched_at == expired


def test_vehicle_last_position(client, session, dispatcher, weather_sandbox) -> None:
    truck = make_vehicle(session)
    make_location(
        session,
        vehicle=truck,
        latitude=39.70,
        longitude=-104.95,
        recorded_at=utc_now() - timedelta(minutes=5),
    )
    latest = make_location(session, vehicle=truck, latitude=35.15, longitude=-90.05)
    body = client.get(f"/weather?vehicle_id={truck.id}", headers=dispatcher).json()
    assert body["vehicle_id"] == truck.id
    assert body["area"] == area_of(latest.latitude, latest.longitude)[0] == "35.1,-90.0"
    assert body["position_recorded_at"] is not None
    assert body["alerts"][0]["event"] == "Wind Advisory"

    idle = make_vehicle(session)
    no_position = client.get(f"/weather?vehicle_id={idle.id}", headers=dispatcher)
    assert no_position.status_code == 422
    assert client.get("/weather?vehicle_id=999999", headers=dispatcher).status_code == 404
    assert client.get("/weather?lat=35", headers=dispatcher).status_code == 400


def test_nws_outage_still_answers_conditions_uncached(
    client, session, dispatcher, weather_sandbox
) -> None:
    weather_sandbox.fault("nws", "5xx", count=3)
    body = client.get(f"/weather?{OKC}", headers=dispatcher).json()
    assert body["alerts_available"] is False and body["alerts"] == []
    assert body["conditions"]["condition"]
    assert session.exec(select(WeatherCache)).all() == []
    again = client.get(f"/weather?{OKC}", headers=dispatcher).json()
    assert again["alerts_available"] is True and again["alerts"]


def test_weatherapi_outage_is_503(client, dispatcher, weather_sandbox) -> None:
    weather_sandbox.fault("weather", "5xx", count=3)
    response = client.get(f"/weather?{OKC}", headers=dispatcher)
    assert response.status_code == 503
    assert response.json()["error"] == "upstream_unavailable"
    assert len(weather_sandbox.requests("weather")) == 3


def test_quota_exhausted_is_503_saying_so(client, main_app, dispatcher, weather_sandbox) -> None:
    env = {**weather_sandbox.settings_env(), "WEATHER_API_KEY": WEATHER_API_KEY_OVER_QUOTA}
    _install(main_app, Settings(**env))
    response = client.get(f"/weather?{OKC}", headers=dispatcher)
    assert response.status_code == 503
    assert response.json()["error"] == "upstream_unavailable"
    assert "quota" in response.json()["detail"]
    assert WEATHER_API_KEY_OVER_QUOTA not in response.text


def test_missing_key_is_503_naming_the_setting(client, main_app, dispatcher) -> None:
    main_app.dependency_overrides[current_settings] = lambda: Settings(WEATHER_API_KEY="")
    try:
        response = client.get(f"/weather?{OKC}", headers=dispatcher)
    finally:
        main_app.dependency_overrides.pop(get_settings, None)
    assert response.status_code == 503
    assert response.json()["error"] == "upstream_not_configured"
    assert "WEATHER_API_KEY" in response.json()["detail"]


def test_authentication_and_permission(client, auth_headers, weather_sandbox) -> None:
    assert client.get(f"/weather?{OKC}").status_code == 401
    other = auth_headers(permissions=[Permission.TRIPS_READ])
    assert client.get(f"/weather?{OKC}", headers=other).status_code == 403
    assert weather_sandbox.requests("weather") == []
