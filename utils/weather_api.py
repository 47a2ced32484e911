"""Weather clients: weatherapi.com for current conditions, the US NWS for active alerts.

weatherapi.com takes its key as the `key` query parameter and `q=lat,lon`; it reports errors as an
HTTP status plus `{"error": {"code", "message"}}` (1006 = no such location, 2007 = monthly quota).
api.weather.gov needs no key but refuses requests without a `User-Agent`, wants at most 4 decimals
(it 301-redirects longer points) and answers errors as problem+json.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import httpx

from config import Settings
from helpers.errors import UpstreamNotConfigured
from helpers.time_utils import parse_vendor_timestamp
from utils.http import (
    VendorAuthError,
    VendorJsonClient,
    VendorRejectedError,
    VendorResponseError,
    VendorTransientError,
    build_http_client,
    json_body,
    parse_retry_after,
    raise_for_status,
    required_credential,
)

WEATHERAPI = "weatherapi"
NWS = "nws"

# weatherapi.com error codes (https://www.weatherapi.com/docs/#intro-error-codes).
_AUTH_CODES = {1002, 2006, 2008, 2009}
NO_LOCATION = 1006
QUOTA_EXCEEDED = 2007
INTERNAL_ERROR = 9999


class WeatherLocationNotFound(VendorRejectedError):
    """weatherapi.com found no location for `q` (code 1006)."""


class WeatherQuotaExceeded(VendorRejectedError):
    """The monthly call quota is used up (code 2007): retrying now will not help."""


@dataclass(frozen=True)
class CurrentConditions:
    location_name: str
    region: str
    lat: float
    lon: float
    tz_id: str | None
    observed_at: datetime | None
    condition: str
    condition_code: int | None
    temp_f: float | None
    temp_c: float | None
    feelslike_f: float | None
    wind_mph: float | None
    gust_mph: float | None
    wind_dir: str | None
    precip_in: float | None
    humidity: int | None
    vis_miles: float | None
    is_day: bool


@dataclass(frozen=True)
class WeatherAlert:
    id: str
    event: str
    severity: str
    urgency: str
    certainty: str
    headline: str | None
    description: str | None
    instruction: str | None
    area: str | None
    sender: str | None
    effective: datetime | None
    onset: datetime | None
    expires: datetime | None
    ends: datetime | None


def nws_point(lat: float, lon: float) -> str:
    """`lat,lon` rounded to the 4 decimals NWS accepts, without trailing zeros."""

    def fmt(value: float) -> str:
        text = f"{round(value, 4):.4f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text

    return f"{fmt(lat)},{fmt(lon)}"


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _timestamp(value: Any, *, epoch: Literal["s"] | None = None) -> datetime | None:
    try:
        return parse_vendor_timestamp(value, epoch=epoch)
    except ValueError:
        return None


class WeatherApiClient(VendorJsonClient):
    """weatherapi.com current conditions; GETs only, so every call is retried when transient."""

    vendor = WEATHERAPI

    def __init__(self, http: httpx.Client, *, api_key: str, retry_wait: float = 0.5) -> None:
        super().__init__(http, retry_wait=retry_wait)
        self._key = api_key

    def current(self, lat: float, lon: float) -> CurrentConditions:
        params = {"key": self._key, "q": f"{lat:.4f},{lon:.4f}", "aqi": "no"}
        body = self._call("GET", "/current.json", params=params)
        try:
            location, current = body["location"], body["current"]
            condition = current.get("condition") or {}
            return CurrentConditions(
                location_name=str(location.get("name") or ""),
                region=str(location.get("region") or ""),
                lat=float(location["lat"]),
                lon=float(location["lon"]),
                tz_id=location.get("tz_id"),
                observed_at=_timestamp(current.get("last_updated_epoch"), epoch="s"),
                condition=str(condition.get("text") or ""),
                condition_code=condition.get("code"),
                temp_f=_float(current.get("temp_f")),
                temp_c=_float(current.get("temp_c")),
                feelslike_f=_float(current.get("feelslike_f")),
                wind_mph=_float(current.get("wind_mph")),
                gust_mph=_float(current.get("gust_mph")),
                wind_dir=current.get("wind_dir"),
                precip_in=_float(current.get("precip_in")),
                humidity=current.get("humidity"),
                vis_miles=_float(current.get("vis_miles")),
                is_day=bool(current.get("is_day")),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise VendorResponseError(WEATHERAPI, "unexpected current.json shape") from None

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        if response.status_code >= 400:
            _raise_weatherapi_error(response)
        body = json_body(WEATHERAPI, response)
        if not isinstance(body, dict):
            raise VendorResponseError(WEATHERAPI, f"unexpected body from {path}")
        return body


def _raise_weatherapi_error(response: httpx.Response) -> None:
    """Map weatherapi.com's `{error: {code, message}}` to our errors (the key never appears)."""
    status = response.status_code
    try:
        error = response.json().get("error") or {}
        code, message = int(error.get("code")), str(error.get("message") or "")
    except (ValueError, TypeError, AttributeError):
        raise_for_status(WEATHERAPI, response)
        return
    detail = f"HTTP {status} code {code}: {message}"
    if status == 429 or status >= 500 or code == INTERNAL_ERROR:
        raise VendorTransientError(
            WEATHERAPI,
            detail,
            status=status,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if code == NO_LOCATION:
        raise WeatherLocationNotFound(WEATHERAPI, detail, status=status)
    if code == QUOTA_EXCEEDED:
        raise WeatherQuotaExceeded(WEATHERAPI, detail, status=status)
    if code in _AUTH_CODES or status in (401, 403):
        raise VendorAuthError(WEATHERAPI, detail, status=status)
    raise VendorRejectedError(WEATHERAPI, detail, status=status)


class NwsClient(VendorJsonClient):
    """api.weather.gov active alerts at a point (US only; no key, but a User-Agent is required)."""

    vendor = NWS

    def active_alerts(self, lat: float, lon: float) -> list[WeatherAlert]:
        params = {"point": nws_point(lat, lon)}
        body = self._call("GET", "/alerts/active", params=params)
        features = body.get("features")
        if not isinstance(features, list):
            raise VendorResponseError(NWS, "alerts response has no features list")
        alerts = []
        for feature in features:
            props = (feature or {}).get("properties") or {}
            alerts.append(
                WeatherAlert(
                    id=str(props.get("id") or feature.get("id") or ""),
                    event=str(props.get("event") or ""),
                    severity=str(props.get("severity") or "Unknown"),
                    urgency=str(props.get("urgency") or "Unknown"),
                    certainty=str(props.get("certainty") or "Unknown"),
                    headline=props.get("headline"),
                    description=props.get("description"),
                    instruction=props.get("instruction"),
                    area=props.get("areaDesc"),
                    sender=props.get("senderName"),
                    effective=_timestamp(props.get("effective")),
                    onset=_timestamp(props.get("onset")),
                    expires=_timestamp(props.get("expires")),
                    ends=_timestamp(props.get("ends")),
                )
            )
        return alerts

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        if response.status_code == 403 and "json" not in response.headers.get("content-type", ""):
            raise VendorAuthError(NWS, "403 Access Denied (is NWS_USER_AGENT set?)", status=403)
        raise_for_status(NWS, response, _problem_message(response))
        body = json_body(NWS, response)
        if not isinstance(body, dict):
            raise VendorResponseError(NWS, f"unexpected body from {path}")
        return body


def _problem_message(response: httpx.Response) -> str | None:
    if response.status_code < 400:
        return None
    try:
        problem = response.json()
        return f"HTTP {response.status_code}: {problem.get('title')} - {problem.get('detail')}"
    except (ValueError, AttributeError):
        return None


class WeatherClient:
    """Both weather services as one provider: weatherapi.com conditions, NWS alerts."""

    def __init__(self, conditions: WeatherApiClient, alerts: NwsClient) -> None:
        self.conditions = conditions
        self.alerts = alerts

    def current(self, lat: float, lon: float) -> CurrentConditions:
        return self.conditions.current(lat, lon)

    def active_alerts(self, lat: float, lon: float) -> list[WeatherAlert]:
        return self.alerts.active_alerts(lat, lon)

    def close(self) -> None:
        self.conditions.close()
        self.alerts.close()


def build_weather_client(settings: Settings, *, retry_wait: float = 0.5) -> WeatherClient:
    """Clients for `WEATHER_BASE_URL` and `NWS_BASE_URL`; refuses to build without the key."""
    key = required_credential(settings, "WEATHER_API_KEY", vendor="weather")
    if not settings.NWS_USER_AGENT.strip():
        raise UpstreamNotConfigured("NWS alerts need a contact: set NWS_USER_AGENT")
    timeout = settings.VENDOR_TIMEOUT_SECONDS
    weatherapi_http = build_http_client(settings.WEATHER_BASE_URL, timeout=timeout)
    nws_http = build_http_client(
        settings.NWS_BASE_URL,
        timeout=timeout,
        headers={"User-Agent": settings.NWS_USER_AGENT, "Accept": "application/geo+json"},
    )
    # NWS answers a point with more than 4 decimals with a 301 to the rounded point.
    nws_http.follow_redirects = True
    return WeatherClient(
        WeatherApiClient(weatherapi_http, api_key=key, retry_wait=retry_wait),
        NwsClient(nws_http, retry_wait=retry_wait),
    )
