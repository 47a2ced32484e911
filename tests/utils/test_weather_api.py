"""weatherapi.com and NWS clients against the sandbox: query-param key, lat,lon order, error codes,
the required User-Agent, 4-decimal points, redirects and retries."""

from __future__ import annotations

import logging
from datetime import UTC

import httpx
import pytest

from config import Settings
from helpers.errors import UpstreamNotConfigured
from sandbox.credentials import WEATHER_API_KEY
from sandbox.weather import WEATHER_API_KEY_OVER_QUOTA
from utils.http import VendorAuthError, VendorResponseError, VendorTransientError
from utils.weather_api import (
    NwsClient,
    WeatherLocationNotFound,
    WeatherQuotaExceeded,
    build_weather_client,
    nws_point,
)

OKLAHOMA_CITY = (35.4676, -97.5164)  # inside the sandbox's thunderstorm area
MINNEAPOLIS = (44.9778, -93.2650)  # calm


def _settings(sandbox, **overrides) -> Settings:
    return Settings(**{**sandbox.settings_env(), **overrides})


@pytest.fixture
def weather(sandbox_clean):
    client = build_weather_client(_settings(sandbox_clean), retry_wait=0)
    yield client
    client.close()


def test_current_sends_key_as_query_param_and_lat_first(weather, sandbox_clean) -> None:
    conditions = weather.current(*OKLAHOMA_CITY)

    [sent] = sandbox_clean.requests("weather")
    assert sent["method"] == "GET"
    assert sent["path"] == "/weather/current.json"
    assert sent["query"] == {"key": WEATHER_API_KEY, "q": "35.4676,-97.5164", "aqi": "no"}
    assert "authorization" not in sent["headers"]
    assert conditions.location_name == "Oklahoma City"
    assert conditions.region == "Oklahoma"
    assert conditions.condition == "Moderate or heavy rain with thunder"
    assert conditions.condition_code == 1276
    assert conditions.gust_mph == 62.0
    assert conditions.observed_at is not None and conditions.observed_at.tzinfo is UTC


def test_no_location_is_1006_and_not_retried(weather, sandbox_clean) -> None:
    with pytest.raises(WeatherLocationNotFound, match="1006") as caught:
        weather.current(95.0, 10.0)
    assert caught.value.status == 400
    assert len(sandbox_clean.requests("weather")) == 1


def test_invalid_key_is_auth_error_and_never_echoes_the_key(sandbox_clean, caplog) -> None:
    client = build_weather_client(_settings(sandbox_clean, WEATHER_API_KEY="bad-key-42"))
    caplog.set_level(logging.DEBUG, logger="utils")
    with pytest.raises(VendorAuthError, match="2006") as caught:
        client.current(*MINNEAPOLIS)
    assert caught.value.status == 401
    assert "bad-key-42" not in str(caught.value)
    assert "bad-key-42" not in caplog.text
    assert len(sandbox_clean.requests("weather")) == 1


def test_quota_exceeded_is_2007_and_not_retried(sandbox_clean) -> None:
    client = build_weather_client(
        _settings(sandbox_clean, WEATHER_API_KEY=WEATHER_API_KEY_OVER_QUOTA)
    )
    with pytest.raises(WeatherQuotaExceeded, match="2007"):
        client.current(*MINNEAPOLIS)
    assert len(sandbox_clean.requests("weather")) == 1


def test_weatherapi_429_then_success(weather, sandbox_clean) -> None:
    sandbox_clean.fault("weather", "429", count=1, retry_after=0.25)
    assert weather.current(*MINNEAPOLIS).location_name == "Minneapolis"
    assert len(sandbox_clean.requests("weather")) == 2


def test_nws_alerts_send_user_agent_and_four_decimals(weather, sandbox_clean) -> None:
    alerts = weather.active_alerts(35.46761234, -97.51641999)

    [sent] = sandbox_clean.requests("nws")
    assert sent["path"] == "/nws/alerts/active"
    assert sent["query"] == {"point": "35.4676,-97.5164"}
    assert sent["headers"]["user-agent"] == Settings().NWS_USER_AGENT
    assert sent["headers"]["accept"] == "application/geo+json"
    [alert] = alerts
    assert alert.event == "Severe Thunderstorm Warning"
    assert alert.severity == "Severe"
    assert alert.id.startswith("urn:oid:")
    # NWS sends local offsets; the client hands back aware UTC.
    assert alert.expires is not None and alert.expires.tzinfo is not None
    assert alert.expires.utcoffset().total_seconds() == 0


def test_nws_no_alerts_in_a_calm_area(weather) -> None:
    assert weather.active_alerts(*MINNEAPOLIS) == []


def test_nws_point_formatting() -> None:
    assert nws_point(35.14951, -90.04900) == "35.1495,-90.049"
    assert nws_point(-0.00001, 10) == "0,10"


def test_nws_client_follows_the_301_for_long_points(weather, sandbox_clean) -> None:
    http = weather.alerts._http
    response = http.get("/alerts/active", params={"point": "35.467612,-97.516411"})
    assert response.status_code == 200
    assert [r["query"]["point"] for r in sandbox_clean.requests("nws")] == [
        "35.467612,-97.516411",
        "35.4676,-97.5164",
    ]


def test_nws_without_user_agent_is_refused(sandbox_clean) -> None:
    http = httpx.Client(base_url=sandbox_clean.vendor_url("nws"), headers={"User-Agent": ""})
    with pytest.raises(VendorAuthError, match="NWS_USER_AGENT"):
        NwsClient(http, retry_wait=0).active_alerts(*MINNEAPOLIS)
    assert len(sandbox_clean.requests("nws")) == 1


def test_nws_5xx_exhaustion_after_three_attempts(weather, sandbox_clean) -> None:
    sandbox_clean.fault("nws", "5xx", count=3)
    with pytest.raises(VendorTransientError) as caught:
        weather.active_alerts(*MINNEAPOLIS)
    assert caught.value.status == 503
    assert "Service Unavailable" in str(caught.value)  # the problem+json title
    assert len(sandbox_clean.requests("nws")) == 3


def test_nws_malformed_json_is_a_clear_error(weather, sandbox_clean) -> None:
    sandbox_clean.fault("nws", "malformed", count=3)
    with pytest.raises(VendorResponseError, match="malformed JSON"):
        weather.active_alerts(*MINNEAPOLIS)


def test_factory_refuses_without_key_or_user_agent() -> None:
    with pytest.raises(UpstreamNotConfigured, match="WEATHER_API_KEY"):
        build_weather_client(Settings(WEATHER_API_KEY=""))
    with pytest.raises(UpstreamNotConfigured, match="NWS_USER_AGENT"):
        build_weather_client(Settings(WEATHER_API_KEY="k", NWS_USER_AGENT=" "))


@pytest.mark.parametrize("other", ["area", "zone"])
def test_nws_refuses_point_combined_with_another_geospatial_filter(sandbox_clean, other) -> None:
    http = httpx.Client(base_url=sandbox_clean.vendor_url("nws"), headers={"User-Agent": "t"})
    response = http.get("/alerts/active", params={"point": "35.4676,-97.5164", other: "OK"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 400 and problem["correlationId"]
    assert problem["detail"] == (
        f'Parameter "point" is incompatible with the following parameters: {other}'
    )
