"""Sandbox imitation of weatherapi.com (`/weather/current.json`, `/weather/alerts.json`).

Auth is the `key` query parameter; errors are the documented HTTP status plus
`{"error": {"code", "message"}}` (1002/2006 bad key, 1003 no `q`, 1006 no location, 2007 quota).
Conditions are deterministic for a place and hour; a few areas (`STORMS`, shared with the NWS fake)
have severe weather so alert paths can be exercised.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sandbox.credentials import WEATHER_API_KEY
from sandbox.lanes import CITIES, City, great_circle_miles

router = APIRouter(prefix="/weather", tags=["weather"])

# Keys that make the fake answer like an exhausted or disabled account.
WEATHER_API_KEY_OVER_QUOTA = "sandbox-weather-key-over-quota"
WEATHER_API_KEY_DISABLED = "sandbox-weather-key-disabled"

STATE_NAMES = {
    "AZ": "Arizona",
    "CA": "California",
    "CO": "Colorado",
    "FL": "Florida",
    "GA": "Georgia",
    "IL": "Illinois",
    "IN": "Indiana",
    "KY": "Kentucky",
    "LA": "Louisiana",
    "MN": "Minnesota",
    "MO": "Missouri",
    "NC": "North Carolina",
    "NE": "Nebraska",
    "NJ": "New Jersey",
    "NM": "New Mexico",
    "NV": "Nevada",
    "OH": "Ohio",
    "OK": "Oklahoma",
    "OR": "Oregon",
    "PA": "Pennsylvania",
    "TN": "Tennessee",
    "TX": "Texas",
    "UT": "Utah",
    "VA": "Virginia",
    "WA": "Washington",
}


@dataclass(frozen=True)
class Storm:
    key: str
    lat: float
    lon: float
    radius_miles: float
    event: str
    severity: str
    urgency: str
    certainty: str
    condition: str
    condition_code: int
    temp_f: float
    wind_mph: float
    gust_mph: float
    precip_in: float
    vis_miles: float
    instruction: str
    zone: str


STORMS: tuple[Storm, ...] = (
    Storm(
        "okc-tstorm",
        35.4676,
        -97.5164,
        60,
        "Severe Thunderstorm Warning",
        "Severe",
        "Immediate",
        "Observed",
        "Moderate or heavy rain with thunder",
        1276,
        71.0,
        38.0,
        62.0,
        0.8,
        2.0,
        "For your protection move to an interior room on the lowest floor.",
        "OKZ025",
    ),
    Storm(
        "denver-winter",
        39.7392,
        -104.9903,
        80,
        "Winter Storm Warning",
        "Severe",
        "Expected",
        "Likely",
        "Heavy snow",
        1225,
        24.0,
        22.0,
        41.0,
        0.5,
        0.5,
        "Travel could be very difficult. If you must travel, keep an extra flashlight, food "
        "and water in your vehicle.",
        "COZ039",
    ),
    Storm(
        "memphis-wind",
        35.1495,
        -90.0490,
        40,
        "Wind Advisory",
        "Moderate",
        "Expected",
        "Likely",
        "Light rain",
        1183,
        45.0,
        28.0,
        45.0,
        0.02,
        4.0,
        "Use extra caution when driving, especially if operating a high profile vehicle.",
        "TNZ088",
    ),
    Storm(
        "chicago-fog",
        41.8781,
        -87.6298,
        35,
        "Dense Fog Advisory",
        "Minor",
        "Expected",
        "Likely",
        "Fog",
        1135,
        48.0,
        4.0,
        7.0,
        0.0,
        0.25,
        "If driving, slow down, use your low beam headlights, and leave plenty of distance.",
        "ILZ014",
    ),
)

_CALM = (
    ("Sunny", 1000),
    ("Partly cloudy", 1003),
    ("Overcast", 1009),
    ("Mist", 1030),
    ("Light rain", 1183),
    ("Clear", 1000),
)


def storm_at(lat: float, lon: float) -> Storm | None:
    for storm in STORMS:
        if great_circle_miles(lat, lon, storm.lat, storm.lon) <= storm.radius_miles:
            return storm
    return None


def nearest_city(lat: float, lon: float) -> City:
    return min(CITIES, key=lambda c: great_circle_miles(lat, lon, c.lat, c.lon))


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _check_key(request: Request) -> JSONResponse | None:
    key = request.query_params.get("key")
    if not key:
        return _error(401, 1002, "API key is invalid or not provided.")
    if key == WEATHER_API_KEY_OVER_QUOTA:
        return _error(403, 2007, "API key has exceeded calls per month quota.")
    if key == WEATHER_API_KEY_DISABLED:
        return _error(403, 2008, "API key has been disabled.")
    if key != WEATHER_API_KEY:
        return _error(401, 2006, "API key provided is invalid")
    return None


def _authorized_point(request: Request) -> tuple[float, float] | JSONResponse:
    """The point `q` names, or the error weatherapi.com answers first (the key, then `q`)."""
    if (error := _check_key(request)) is not None:
        return error
    return _resolve_q(request)


def _resolve_q(request: Request) -> tuple[float, float] | JSONResponse:
    q = (request.query_params.get("q") or "").strip()
    if not q:
        return _error(400, 1003, "Parameter q is missing.")
    point = _parse_point(q)
    if point is not None:
        lat, lon = point
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            return lat, lon
        return _error(400, 1006, "No matching location found.")
    for city in CITIES:
        if city.name.lower() == q.lower():
            return city.lat, city.lon
    return _error(400, 1006, "No matching location found.")


def _parse_point(q: str) -> tuple[float, float] | None:
    """`lat,lon` as numbers, or None when `q` is a place name."""
    parts = q.split(",")
    if len(parts) != 2:
        return None
    try:
        return float(parts[0]), float(parts[1])
    except ValueError:
        return None


def _seed(*parts: object) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def _location(lat: float, lon: float, now: datetime) -> dict[str, Any]:
    city = nearest_city(lat, lon)
    local = now.astimezone(ZoneInfo(city.timezone))
    return {
        "name": city.name,
        "region": STATE_NAMES.get(city.state, city.state),
        "country": "United States of America",
        "lat": round(lat, 2),
        "lon": round(lon, 2),
        "tz_id": city.timezone,
        "localtime_epoch": int(now.timestamp()),
        "localtime": f"{local:%Y-%m-%d} {local.hour}:{local:%M}",
    }


def current_conditions(lat: float, lon: float, now: datetime) -> dict[str, Any]:
    """The `current` object: a storm's weather inside its area, else calm and place-seeded."""
    storm = storm_at(lat, lon)
    updated = now.replace(minute=(now.minute // 15) * 15, second=0, microsecond=0)
    local = updated.astimezone(ZoneInfo(nearest_city(lat, lon).timezone))
    if storm:
        text, code = storm.condition, storm.condition_code
        temp_f, wind, gust = storm.temp_f, storm.wind_mph, storm.gust_mph
        precip, vis = storm.precip_in, storm.vis_miles
    else:
        seed = _seed(round(lat, 1), round(lon, 1), now.strftime("%Y%m%d%H"))
        text, code = _CALM[seed % len(_CALM)]
        season = -12.0 if now.month in (12, 1, 2) else (10.0 if now.month in (6, 7, 8) else 0.0)
        temp_f = round(88 - (lat - 25) * 1.4 + season + (seed % 9) - 4, 1)
        wind = float(4 + seed % 14)
        gust = round(wind * 1.4, 1)
        precip = 0.03 if code == 1183 else 0.0
        vis = 4.0 if code in (1030, 1183) else 10.0
    temp_c = round((temp_f - 32) * 5 / 9, 1)
    is_day = 1 if 6 <= local.hour < 19 else 0
    wind_deg = _seed(round(lat, 1), round(lon, 1)) % 360
    return {
        "last_updated_epoch": int(updated.timestamp()),
        "last_updated": f"{local:%Y-%m-%d %H:%M}",
        "temp_c": temp_c,
        "temp_f": temp_f,
        "is_day": is_day,
        "condition": {
            "text": text,
            "icon": f"//cdn.weatherapi.com/weather/64x64/{'day' if is_day else 'night'}/"
            f"{code % 1000 + 113}.png",
            "code": code,
        },
        "wind_mph": wind,
        "wind_kph": round(wind * 1.609, 1),
        "wind_degree": wind_deg,
        "wind_dir": _compass(wind_deg),
        "pressure_mb": 1012.0,
        "pressure_in": 29.88,
        "precip_mm": round(precip * 25.4, 1),
        "precip_in": precip,
        "humidity": 87 if precip else 55,
        "cloud": 100 if code != 1000 else 0,
        "feelslike_c": temp_c,
        "feelslike_f": temp_f,
        "vis_km": round(vis * 1.609, 1),
        "vis_miles": vis,
        "uv": 1.0,
        "gust_mph": gust,
        "gust_kph": round(gust * 1.609, 1),
    }


def _compass(degrees: int) -> str:
    points = (
        "N",
        "NNE",
        "NE",
        "ENE",
        "E",
        "ESE",
        "SE",
        "SSE",
        "S",
        "SSW",
        "SW",
        "WSW",
        "W",
        "WNW",
        "NW",
        "NNW",
    )
    return points[int((degrees % 360) / 22.5 + 0.5) % 16]


def storm_window(storm: Storm, now: datetime) -> tuple[datetime, datetime, datetime]:
    """Effective, expires and ends of a storm's alert, stable within a UTC day."""
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1), start + timedelta(days=1, hours=6)


def utc_now(request: Request) -> datetime:
    """The sandbox clock (frozen or advanced by tests), or wall time outside the sandbox app."""
    state = getattr(request.app.state, "sandbox", None)
    return state.clock() if state is not None else datetime.now(UTC)


@router.get("/current.json")
def current(request: Request) -> JSONResponse:
    """Current conditions at `q`."""
    resolved = _authorized_point(request)
    if isinstance(resolved, JSONResponse):
        return resolved
    lat, lon = resolved
    now = utc_now(request)
    return JSONResponse(
        {"location": _location(lat, lon, now), "current": current_conditions(lat, lon, now)}
    )


@router.get("/alerts.json")
def alerts(request: Request) -> JSONResponse:
    """Weather alerts at `q` in weatherapi.com's shape (the list may be empty)."""
    resolved = _authorized_point(request)
    if isinstance(resolved, JSONResponse):
        return resolved
    lat, lon = resolved
    now = utc_now(request)
    items = []
    if storm := storm_at(lat, lon):
        effective, expires, _ = storm_window(storm, now)
        items.append(
            {
                "headline": f"{storm.event} issued for {nearest_city(lat, lon).name}",
                "msgtype": "Alert",
                "severity": storm.severity,
                "urgency": storm.urgency,
                "areas": nearest_city(lat, lon).name,
                "category": "Met",
                "certainty": storm.certainty,
                "event": storm.event,
                "note": "",
                "effective": effective.isoformat(),
                "expires": expires.isoformat(),
                "desc": f"{storm.event} in effect.",
                "instruction": storm.instruction,
            }
        )
    return JSONResponse({"location": _location(lat, lon, now), "alerts": {"alert": items}})
