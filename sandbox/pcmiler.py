"""Sandbox imitation of PC*MILER's `GET /Service.svc/route/routeReports` (Mileage report).

Checks the raw-key `Authorization` header (or `authToken`), parses `stops` as `lon,lat;lon,lat`,
and answers a JSON array of report objects whose numbers are strings (`"452.318"`, `"7:41"`).
Miles are great-circle miles times the simulator's road factor; drive time assumes 57.5 mph.
A stop outside North America comes back with `Stop.Errors` at HTTP 200, as the real service does;
a coordinate out of range (typically latitude sent first) is a 400.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sandbox.credentials import PCMILER_API_KEY
from sandbox.lanes import CITIES, ROAD_FACTOR, City, great_circle_miles

router = APIRouter(prefix="/pcmiler", tags=["pcmiler"])

AVERAGE_MPH = 57.5
COST_PER_MILE = 1.75
GHG_KG_PER_MILE = 3.55
NEAR_CITY_MILES = 30.0
SUPPORTED_REPORTS = {"mileage"}
KNOWN_REPORTS = {"mileage", "detail", "calcmiles", "state", "directions", "routepath", "road"}
REPORT_NAMESPACE = "http://pcmiler.alk.com/APIs/v1.0"


def _error(status: int, message: str) -> JSONResponse:
    # The error body is undocumented (low confidence); this is ASP.NET Web API's shape.
    return JSONResponse({"Message": message}, status_code=status)


def _authorized(request: Request) -> bool:
    supplied = request.headers.get("authorization") or request.query_params.get("authToken")
    return supplied == PCMILER_API_KEY


def _in_north_america(lat: float, lon: float) -> bool:
    return 14.0 <= lat <= 72.0 and -170.0 <= lon <= -52.0


def _parse_stops(raw: str) -> list[tuple[float, float]] | None:
    stops = []
    for pair in filter(None, raw.split(";")):
        parts = pair.split(",")
        if len(parts) != 2:
            return None
        try:
            lon, lat = float(parts[0]), float(parts[1])
        except ValueError:
            return None
        stops.append((lat, lon))
    return stops


def _nearest_city(lat: float, lon: float) -> tuple[City, float]:
    city = min(CITIES, key=lambda c: great_circle_miles(lat, lon, c.lat, c.lon))
    return city, great_circle_miles(lat, lon, city.lat, city.lon)


def _hours(minutes: float, with_seconds: bool) -> str:
    total_seconds = round(minutes * 60)
    hours, rest = divmod(total_seconds, 3600)
    mins, secs = divmod(rest, 60)
    if with_seconds:
        return f"{hours}:{mins:02d}:{secs:02d}"
    # h:mm rounds to the nearest minute, as PC*MILER's report does.
    hours, mins = divmod(round(total_seconds / 60), 60)
    return f"{hours}:{mins:02d}"


def _stop(lat: float, lon: float, label: str) -> dict[str, Any]:
    errors: list[dict[str, Any]] = []
    address: dict[str, Any] = {
        "StreetAddress": "",
        "City": "",
        "State": "",
        "Zip": "",
        "County": "",
        "Country": "",
    }
    if _in_north_america(lat, lon):
        city, distance = _nearest_city(lat, lon)
        address.update(
            State=city.state,
            Country="United States",
            StateAbbreviation=city.state,
            CountryAbbreviation="US",
        )
        if distance <= NEAR_CITY_MILES:
            address.update(City=city.name, Zip=city.zip)
    else:
        errors.append(
            {
                "Code": 1,
                "LegacyErrorCode": 1000,
                "Description": f"Could not geocode stop {lon:.6f},{lat:.6f}: "
                "no road network in this region",
            }
        )
    return {
        "Address": address,
        "Coords": {"Lat": f"{lat:.6f}", "Lon": f"{lon:.6f}"},
        "Region": 4,
        "Label": label,
        "PlaceName": "",
        "TimeZone": "",
        "Errors": errors,
    }


def mileage_report(
    stops: list[tuple[float, float]], *, with_seconds: bool = False, route_id: str | None = None
) -> dict[str, Any]:
    """A Mileage report for `stops` ((lat, lon) pairs), strings everywhere like the real one."""
    lines = []
    total_miles = total_minutes = 0.0
    previous: tuple[float, float] | None = None
    for lat, lon in stops:
        stop = _stop(lat, lon, label="")
        leg_miles = leg_minutes = 0.0
        if previous is not None and not stop["Errors"]:
            leg_miles = great_circle_miles(previous[0], previous[1], lat, lon) * ROAD_FACTOR
            leg_minutes = leg_miles / AVERAGE_MPH * 60
        total_miles += leg_miles
        total_minutes += leg_minutes
        lines.append(
            {
                "Stop": stop,
                "LMiles": f"{leg_miles:.3f}",
                "TMiles": f"{total_miles:.3f}",
                "LCostMile": f"{leg_miles * COST_PER_MILE:.2f}",
                "TCostMile": f"{total_miles * COST_PER_MILE:.2f}",
                "LHours": _hours(leg_minutes, with_seconds),
                "THours": _hours(total_minutes, with_seconds),
                "LTolls": "0.00",
                "TTolls": "0.00",
                "LEstghg": f"{leg_miles * GHG_KG_PER_MILE:.1f}",
                "TEstghg": f"{total_miles * GHG_KG_PER_MILE:.1f}",
                "EtaEtd": None,
            }
        )
        if not stop["Errors"]:
            previous = (lat, lon)
    return {
        "__type": f"MileageReport:{REPORT_NAMESPACE}",
        "RouteID": route_id,
        "ReportLines": lines,
        "TrafficDataUsed": False,
    }


@router.get("/Service.svc/route/routeReports")
@router.get("/service.svc/route/routereports", include_in_schema=False)
def route_reports(request: Request) -> JSONResponse:
    """Mileage report for coordinate stops (GET form)."""
    if not _authorized(request):
        return _error(401, "Authorization has been denied for this request.")
    params = {k.lower(): v for k, v in request.query_params.items()}
    raw_stops, raw_reports = params.get("stops"), params.get("reports")
    if not raw_stops or not raw_reports:
        return _error(400, "The stops and reports parameters are required.")
    stops = _parse_stops(raw_stops)
    if stops is None:
        return _error(400, "Invalid stops: expected longitude,latitude pairs separated by ';'.")
    # Latitude first (a US point's longitude read as a latitude) is out of range: refused.
    bad = next(
        ((lat, lon) for lat, lon in stops if not -90 <= lat <= 90 or not -180 <= lon <= 180), None
    )
    if bad is not None:
        return _error(
            400,
            f"Invalid stop {bad[1]},{bad[0]}: latitude must be within -90..90 and longitude "
            "within -180..180 (stops are longitude,latitude).",
        )
    if len(stops) < 2:
        return _error(400, "At least two stops are required.")
    reports = [r.strip().lower() for r in raw_reports.split(",") if r.strip()]
    unknown = [r for r in reports if r not in KNOWN_REPORTS]
    if unknown:
        return _error(400, f"Unknown report type(s): {', '.join(unknown)}")
    unsupported = [r for r in reports if r not in SUPPORTED_REPORTS]
    if unsupported:
        return _error(400, f"The sandbox only serves Mileage reports, not {unsupported}")
    with_seconds = params.get("thourswithseconds", "").lower() == "true"
    body = [
        mileage_report(stops, with_seconds=with_seconds, route_id=params.get("routeid"))
        for _ in reports
    ]
    return JSONResponse(body)
