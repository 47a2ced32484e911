"""Sandbox imitation of api.weather.gov's `GET /alerts/active?point=lat,lon` (under `/nws`).

Like the real service: no key, but a request without a `User-Agent` gets the firewall's 403 HTML;
a point with more than 4 decimals is 301-redirected to the rounded point; a malformed point is a
400 problem+json, and so is `point` combined with `area`, `region`, `region_type` or `zone`
(one exclusive group in the spec). Alerts come from the storms the weatherapi fake also knows about.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from sandbox.weather import nearest_city, storm_at, storm_window, utc_now

router = APIRouter(prefix="/nws", tags=["nws"])

POINT_PATTERN = re.compile(r"^(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)$")
API_ROOT = "https://api.weather.gov"
_GEOSPATIAL = ("area", "region", "region_type", "zone")  # each excludes `point`


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    correlation = uuid.uuid4().hex[:8]
    return JSONResponse(
        {
            "correlationId": correlation,
            "title": title,
            "type": f"{API_ROOT}/problems/{title.replace(' ', '')}",
            "status": status,
            "detail": detail,
            "instance": f"{API_ROOT}/requests/{correlation}",
        },
        status_code=status,
        media_type="application/problem+json",
        headers={"X-Correlation-Id": correlation},
    )


def _round_text(value: str) -> str:
    rounded = f"{round(float(value), 4):.4f}".rstrip("0").rstrip(".")
    return "0" if rounded in ("", "-0") else rounded


def _too_precise(value: str) -> bool:
    return "." in value and len(value.split(".", 1)[1]) > 4


@router.get("/alerts/active")
def active_alerts(request: Request) -> Response:
    """Active alerts at a point, as a GeoJSON FeatureCollection."""
    if not request.headers.get("user-agent", "").strip():
        return HTMLResponse(
            "<HTML><HEAD><TITLE>Access Denied</TITLE></HEAD><BODY><H1>Access Denied</H1>"
            "You don't have permission to access this resource.</BODY></HTML>",
            status_code=403,
        )
    point = request.query_params.get("point")
    if point is None:
        # The fake only serves point queries; the real service would list the whole country.
        return _problem(400, "Bad Request", 'The sandbox requires the "point" parameter.')
    clashing = [p for p in _GEOSPATIAL if p in request.query_params]
    if clashing:
        # The spec puts point, area, region, region_type and zone in one exclusive group.
        others = ", ".join(clashing)
        detail = f'Parameter "point" is incompatible with the following parameters: {others}'
        return _problem(400, "Bad Request", detail)
    match = POINT_PATTERN.match(point)
    if not match:
        return _problem(400, "Bad Request", f'Parameter "point" is invalid: {point!r}')
    lat_text, lon_text = match.groups()
    if _too_precise(lat_text) or _too_precise(lon_text):
        params = dict(request.query_params)
        params["point"] = f"{_round_text(lat_text)},{_round_text(lon_text)}"
        return RedirectResponse(f"{request.url.path}?{urlencode(params)}", status_code=301)
    lat, lon = float(lat_text), float(lon_text)
    if not -90 <= lat <= 90 or not -180 <= lon <= 180:
        return _problem(400, "Bad Request", f'Parameter "point" is out of range: {point!r}')
    now = utc_now(request)
    features = []
    if storm := storm_at(lat, lon):
        city = nearest_city(lat, lon)
        tz = ZoneInfo(city.timezone)
        effective, expires, ends = storm_window(storm, now)
        alert_id = f"urn:oid:2.49.0.1.840.0.sandbox.{storm.key}.{effective:%Y%m%d}"
        properties: dict[str, Any] = {
            "@id": f"{API_ROOT}/alerts/{alert_id}",
            "@type": "wx:Alert",
            "id": alert_id,
            "areaDesc": f"{city.name} County area, {city.state}",
            "geocode": {"SAME": ["000000"], "UGC": [storm.zone]},
            "affectedZones": [f"{API_ROOT}/zones/forecast/{storm.zone}"],
            "references": [],
            "sent": effective.astimezone(tz).isoformat(),
            "effective": effective.astimezone(tz).isoformat(),
            "onset": effective.astimezone(tz).isoformat(),
            "expires": expires.astimezone(tz).isoformat(),
            "ends": ends.astimezone(tz).isoformat(),
            "status": "Actual",
            "messageType": "Alert",
            "category": "Met",
            "severity": storm.severity,
            "certainty": storm.certainty,
            "urgency": storm.urgency,
            "event": storm.event,
            "sender": "w-nws.webmaster@noaa.gov",
            "senderName": f"NWS {city.name} {city.state}",
            "headline": f"{storm.event} issued for {city.name}, {city.state} by NWS",
            "description": f"* WHAT...{storm.event}.\n\n* WHERE...{city.name} and vicinity.",
            "instruction": storm.instruction,
            "response": "Execute" if storm.severity != "Minor" else "Monitor",
            "parameters": {
                "NWSheadline": [f"{storm.event.upper()} IN EFFECT"],
                "VTEC": [f"/O.NEW.KSBX.{storm.key.upper()}.0001/"],
            },
        }
        features.append(
            {
                "id": f"{API_ROOT}/alerts/{alert_id}",
                "type": "Feature",
                "geometry": None,
                "properties": properties,
            }
        )
    body = {
        "type": "FeatureCollection",
        "features": features,
        "title": f"Current watches, warnings, and advisories for {lat} N, {abs(lon)} W",
        "updated": now.replace(microsecond=0).isoformat(),
    }
    return JSONResponse(body, media_type="application/geo+json")
