"""Sandbox imitation of the Samsara REST API (api.samsara.com), served from the fleet simulator.

Same paths, Bearer auth, `{data, pagination}` envelopes, opaque `after` cursors, `limit` ≤ 512,
`{message, requestId}` errors, at most 3 stat `types`, singular snapshot vs plural feed keys.
Feeds are time-sliced over the simulator's fixed reporting grid; without `after` the location and
stats feeds start at the history window (`SANDBOX_HISTORY_HOURS` back from the simulator start) so
ingest can page through a long history, then follow the clock ("caught up" = `hasNextPage:false`).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from sandbox.credentials import SAMSARA_TOKEN
from sandbox.faults import EMPTY_PAGE_START_CURSOR
from sandbox.lanes import CITIES
from sandbox.simulator import Driver, Position, SafetyEvent, Simulator, Vehicle
from sandbox.state import sandbox_state

MAX_LIMIT = 512
DEFAULT_PAGE = 512
STAT_TYPES = ("gps", "engineStates", "fuelPercents", "obdOdometerMeters")
SNAPSHOT_KEYS = {
    "gps": "gps",
    "engineStates": "engineState",
    "fuelPercents": "fuelPercent",
    "obdOdometerMeters": "obdOdometerMeters",
}


class SamsaraError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message, "requestId": uuid.uuid4().hex[:8]}, status_code=status)


def _authorize(request: Request) -> None:
    if request.headers.get("authorization", "") != f"Bearer {SAMSARA_TOKEN}":
        raise SamsaraError(401, "Unauthorized: a valid API token is required")


router = APIRouter(prefix="/samsara", tags=["samsara"], dependencies=[Depends(_authorize)])


def handle_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SamsaraError)
    return error_response(exc.status, exc.message)


# `sandbox/app.py` registers these so errors leave in Samsara's `{message, requestId}` shape.
exception_handlers = {SamsaraError: handle_error}


# ---- helpers ---------------------------------------------------------------------------------
def _sim(request: Request) -> Simulator:
    return sandbox_state(request).simulator


def _iso(dt: datetime) -> str:
    text = dt.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace(".000+00:00", "Z").replace("+00:00", "Z")


def _time_param(value: str | None, name: str, default: datetime | None = None) -> datetime:
    if not value:
        if default is None:
            raise SamsaraError(400, f"{name} is required")
        return default
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SamsaraError(400, f"{name} must be an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise SamsaraError(400, f"{name} must carry a UTC offset")
    return parsed.astimezone(UTC)


def _csv(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if v]


def _encode(kind: str, value: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


def _decode(cursor: str | None, kind: str) -> int | None:
    if not cursor or cursor == EMPTY_PAGE_START_CURSOR:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, value = text.split(":", 1)
        if prefix != kind:
            raise ValueError(prefix)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise SamsaraError(400, "Invalid pagination cursor") from None


def _limit(value: int | None) -> int:
    if value is None:
        return DEFAULT_PAGE
    if not 1 <= value <= MAX_LIMIT:
        raise SamsaraError(400, f"limit must be between 1 and {MAX_LIMIT}")
    return value


def _page(items: list[Any], after: str | None, limit: int) -> dict[str, Any]:
    offset = _decode(after, "o") or 0
    chunk = items[offset : offset + limit]
    more = offset + limit < len(items)
    return {
        "data": chunk,
        "pagination": {
            "endCursor": _encode("o", offset + limit) if more else "",
            "hasNextPage": more,
        },
    }


def _vehicles(sim: Simulator, ids: str | None) -> list[Vehicle]:
    wanted = set(_csv(ids))
    return [v for v in sim.vehicles if not wanted or v.samsara_id in wanted]


def _ref(obj: Vehicle | Driver) -> dict[str, str]:
    if isinstance(obj, Vehicle):
        return {"id": obj.samsara_id, "name": obj.unit}
    return {"id": obj.samsara_id, "name": obj.name}


def _vehicle_external_ids(v: Vehicle) -> dict[str, str]:
    return {"samsara.vin": v.vin, "samsara.serial": v.serial, "ditatTruckId": v.unit}


def _vehicle_json(sim: Simulator, v: Vehicle) -> dict[str, Any]:
    created = sim.start - timedelta(days=400 + v.index)
    return {
        "id": v.samsara_id,
        "name": v.unit,
        "vin": v.vin,
        "externalIds": _vehicle_external_ids(v),
        "licensePlate": v.plate,
        "make": v.make,
        "model": v.model,
        "year": v.year,
        "serial": v.serial,
        "gateway": {"serial": v.serial, "model": "VG54NA"},
        "staticAssignedDriver": _ref(v.driver),
        "tags": [{"id": "3914", "name": "Linehaul"}],
        "notes": f"Trailer {v.trailer.trailer_id}",
        "vehicleType": "truck",
        "vehicleRegulationMode": "regulated",
        "vehicleWeightInPounds": 80000,
        "createdAtTime": _iso(created),
        "updatedAtTime": _iso(sim.start - timedelta(days=2)),
    }


def _driver_json(sim: Simulator, d: Driver) -> dict[str, Any]:
    vehicle = sim.vehicle_for_driver(d)
    body: dict[str, Any] = {
        "id": d.samsara_id,
        "name": d.name,
        "username": d.username,
        "phone": d.phone,
        "email": d.email,
        "licenseNumber": d.license_number,
        "licenseState": d.license_state,
        "timezone": d.timezone,
        "driverActivationStatus": "active" if d.active else "deactivated",
        "isDeactivated": not d.active,
        "externalIds": {"ditatDriverId": d.ditat_id, "payrollId": f"PR{10000 + d.index}"},
        "eldDayStartHour": 0,
        "eldExempt": False,
        "eldPcEnabled": True,
        "eldYmEnabled": True,
        "carrierSettings": {
            "carrierName": "Sandbox Freight Inc.",
            "dotNumber": 3141592,
            # The terminal's name as the TMS (sandbox Ditat trips) names it: the home city.
            "homeTerminalName": d.home.name,
            "homeTerminalAddress": f"{d.home.address}, {d.home.name}, {d.home.state} {d.home.zip}",
        },
        "tags": [{"id": "3914", "name": "Linehaul"}],
        "createdAtTime": _iso(sim.start - timedelta(days=300 + d.index)),
        "updatedAtTime": _iso(sim.start - timedelta(days=1)),
    }
    if vehicle:
        body["staticAssignedVehicle"] = _ref(vehicle)
    return body


def _location(p: Position) -> dict[str, Any]:
    return {
        "time": _iso(p.time),
        "latitude": p.latitude,
        "longitude": p.longitude,
        "heading": p.heading,
        "speed": p.speed_mph,
        "reverseGeo": {"formattedLocation": p.place},
    }


def _gps_stat(p: Position) -> dict[str, Any]:
    return {
        "time": _iso(p.time),
        "latitude": p.latitude,
        "longitude": p.longitude,
        "headingDegrees": p.heading,
        "speedMilesPerHour": p.speed_mph,
        "isEcuSpeed": False,
        "reverseGeo": {"formattedLocation": p.place},
    }


def _stat(p: Position, stat: str) -> dict[str, Any]:
    if stat == "gps":
        return _gps_stat(p)
    value = {
        "engineStates": p.engine_state,
        "fuelPercents": p.fuel_percent,
        "obdOdometerMeters": p.odometer_m,
    }[stat]
    return {"time": _iso(p.time), "value": value}


def _types(value: str | None) -> list[str]:
    types = _csv(value)
    if not types:
        raise SamsaraError(400, "types is required")
    if len(types) > 3:
        raise SamsaraError(400, "types accepts at most 3 values per request")
    unknown = [t for t in types if t not in STAT_TYPES]
    if unknown:
        raise SamsaraError(400, f"Invalid stat type(s): {', '.join(unknown)}")
    return types


def _feed_window(sim: Simulator, after: str | None) -> tuple[datetime | None, datetime]:
    """(exclusive start or None for a first call without history, grid time now)."""
    now = sim.now()
    grid_now = sim.sample_times(now - timedelta(seconds=sim.location_interval_s), now)
    now_t = grid_now[-1] if grid_now else now
    since = _decode(after, "t")
    if since is not None:
        return datetime.fromtimestamp(since, UTC), now_t
    if sim.history_hours > 0:
        return sim.history_start, now_t
    return None, now_t


def _feed_page(
    sim: Simulator, vehicles: list[Vehicle], after: str | None, render
) -> dict[str, Any]:
    """One time slice of the feed: at most ~512 samples, grouped per vehicle."""
    start, now_t = _feed_window(sim, after)
    if start is None:  # first call, no history: the last known value of every asset
        data = [render(v, [sim.last_known_position(v, now_t)]) for v in vehicles]
        return {
            "data": data,
            "pagination": {"endCursor": _encode("t", int(now_t.timestamp())), "hasNextPage": False},
        }
    per_page = max(1, MAX_LIMIT // max(1, len(vehicles)))
    step = timedelta(seconds=sim.location_interval_s * per_page)
    end = min(start + step, now_t)
    times = sim.sample_times(start, end) if end > start else []
    data = []
    for v in vehicles:
        points = [sim.position(v, t) for t in times if sim.reports_at(v, t)]
        if points:
            data.append(render(v, points))
    cursor_t = max(end, start)
    return {
        "data": data,
        "pagination": {
            "endCursor": _encode("t", int(cursor_t.timestamp())),
            "hasNextPage": cursor_t < now_t,
        },
    }


# ---- vehicles and drivers --------------------------------------------------------------------
@router.get("/fleet/vehicles")
def list_vehicles(request: Request, limit: int | None = None, after: str | None = None) -> dict:
    """List vehicles."""
    sim = _sim(request)
    return _page([_vehicle_json(sim, v) for v in sim.vehicles], after, _limit(limit))


@router.get("/fleet/drivers")
def list_drivers(
    request: Request,
    limit: int | None = None,
    after: str | None = None,
    driverActivationStatus: str = "active",
) -> dict:
    """List drivers (active by default, like Samsara)."""
    sim = _sim(request)
    if driverActivationStatus not in ("active", "deactivated"):
        raise SamsaraError(400, "driverActivationStatus must be active or deactivated")
    wanted = driverActivationStatus == "active"
    drivers = [_driver_json(sim, d) for d in sim.drivers if d.active == wanted]
    return _page(drivers, after, _limit(limit))


@router.get("/fleet/drivers/{driver_id}")
def get_driver(request: Request, driver_id: str) -> dict:
    """One driver by Samsara id or `key:value` external id."""
    sim = _sim(request)
    for d in sim.drivers:
        body = _driver_json(sim, d)
        if driver_id == d.samsara_id or driver_id in {
            f"{k}:{v}" for k, v in body["externalIds"].items()
        }:
            return {"data": body}
    raise SamsaraError(404, f"Driver {driver_id} not found")


# ---- addresses (geofences) ---------------------------------------------------------------------
def _address_json(index: int, city: Any) -> dict[str, Any]:
    """A customer facility at the city's stop point, as `GET /addresses` returns it: every other
    one a circle (radius 300-700 m), the rest a square polygon of about 0.8 mi a side."""
    if index % 2 == 0:
        geofence: dict[str, Any] = {
            "circle": {
                "latitude": city.lat,
                "longitude": city.lon,
                "radiusMeters": 300 + (index * 37) % 400,
            }
        }
    else:
        d = 0.006
        geofence = {
            "polygon": {
                "vertices": [
                    {"latitude": round(city.lat + dy, 6), "longitude": round(city.lon + dx, 6)}
                    for dy, dx in ((-d, -d), (-d, d), (d, d), (d, -d))
                ]
            }
        }
    return {
        "id": str(22400 + index),
        "name": f"{city.name} DC",
        "formattedAddress": f"{city.address}, {city.name}, {city.state} {city.zip}",
        "latitude": city.lat,
        "longitude": city.lon,
        "geofence": geofence,
        "addressTypes": ["industrialSite"],
        "externalIds": {},
        "createdAtTime": "2024-01-02T15:04:05Z",
    }


@router.get("/addresses")
def list_addresses(request: Request, limit: int | None = None, after: str | None = None) -> dict:
    """List addresses (facility geofences): two cities in three have one."""
    _sim(request)
    addresses = [_address_json(i, c) for i, c in enumerate(CITIES) if i % 3 != 2]
    return _page(addresses, after, _limit(limit))


# ---- locations -------------------------------------------------------------------------------
@router.get("/fleet/vehicles/locations")
def vehicle_locations(
    request: Request,
    after: str | None = None,
    time: str | None = None,
    vehicleIds: str | None = None,
) -> dict:
    """Last known location of each vehicle at `time` (default now)."""
    sim = _sim(request)
    at = _time_param(time, "time", sim.now())
    data = [
        {"id": v.samsara_id, "name": v.unit, "location": _location(sim.last_known_position(v, at))}
        for v in _vehicles(sim, vehicleIds)
    ]
    return _page(data, after, DEFAULT_PAGE)


@router.get("/fleet/vehicles/locations/feed")
def vehicle_locations_feed(
    request: Request, after: str | None = None, vehicleIds: str | None = None
) -> dict:
    """Locations since the cursor (history first, then live)."""
    sim = _sim(request)
    return _feed_page(
        sim,
        _vehicles(sim, vehicleIds),
        after,
        lambda v, pts: {
            "id": v.samsara_id,
            "name": v.unit,
            "locations": [_location(p) for p in pts],
        },
    )


@router.get("/fleet/vehicles/locations/history")
def vehicle_locations_history(
    request: Request,
    startTime: str | None = None,
    endTime: str | None = None,
    after: str | None = None,
    vehicleIds: str | None = None,
) -> dict:
    """Every reported location in [startTime, endTime]."""
    sim = _sim(request)
    start = _time_param(startTime, "startTime")
    end = min(_time_param(endTime, "endTime"), sim.now())
    times = sim.sample_times(start - timedelta(microseconds=1), end)
    data = []
    for v in _vehicles(sim, vehicleIds):
        points = [_location(sim.position(v, t)) for t in times if sim.reports_at(v, t)]
        data.append({"id": v.samsara_id, "name": v.unit, "locations": points})
    return _page(data, after, 50)


# ---- stats -----------------------------------------------------------------------------------
@router.get("/fleet/vehicles/stats")
def vehicle_stats(
    request: Request,
    types: str | None = None,
    time: str | None = None,
    after: str | None = None,
    vehicleIds: str | None = None,
) -> dict:
    """Snapshot: the last value of each requested stat (singular keys)."""
    sim = _sim(request)
    wanted = _types(types)
    at = _time_param(time, "time", sim.now())
    data = []
    for v in _vehicles(sim, vehicleIds):
        p = sim.last_known_position(v, at)
        item: dict[str, Any] = {
            "id": v.samsara_id,
            "name": v.unit,
            "externalIds": _vehicle_external_ids(v),
        }
        for stat in wanted:
            item[SNAPSHOT_KEYS[stat]] = _stat(p, stat)
        data.append(item)
    return _page(data, after, DEFAULT_PAGE)


@router.get("/fleet/vehicles/stats/feed")
def vehicle_stats_feed(
    request: Request,
    types: str | None = None,
    after: str | None = None,
    vehicleIds: str | None = None,
) -> dict:
    """Stat changes since the cursor (plural keys, lists)."""
    sim = _sim(request)
    wanted = _types(types)

    def render(v: Vehicle, points: list[Position]) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": v.samsara_id,
            "name": v.unit,
            "externalIds": _vehicle_external_ids(v),
        }
        for stat in wanted:
            if stat == "engineStates":
                entries, last = [], None
                for p in points:
                    if p.engine_state != last:
                        entries.append(_stat(p, stat))
                        last = p.engine_state
            elif stat == "gps":
                entries = [_stat(p, stat) for p in points]
            else:  # slow-moving values are reported every fifth sample
                entries = [
                    _stat(p, stat)
                    for p in points
                    if int(p.time.timestamp()) // sim.location_interval_s % 5 == 0
                ]
            item[stat] = entries
        return item

    return _feed_page(sim, _vehicles(sim, vehicleIds), after, render)


# ---- hours of service ------------------------------------------------------------------------
def _drivers(sim: Simulator, ids: str | None, include_inactive: bool = True) -> list[Driver]:
    wanted = set(_csv(ids))
    out = []
    for d in sim.drivers:
        if not include_inactive and not d.active:
            continue
        keys = {d.samsara_id, f"ditatDriverId:{d.ditat_id}", f"payrollId:PR{10000 + d.index}"}
        if not wanted or keys & wanted:
            out.append(d)
    return out


@router.get("/fleet/hos/clocks")
def hos_clocks(
    request: Request,
    driverIds: str | None = None,
    limit: int | None = None,
    after: str | None = None,
) -> dict:
    """Current HOS clocks per driver (durations in milliseconds)."""
    sim = _sim(request)
    now = sim.now()
    data = []
    for d in _drivers(sim, driverIds):
        vehicle = sim.vehicle_for_driver(d)
        item: dict[str, Any] = {"driver": _ref(d)}
        if vehicle is None:
            clocks = {
                "break": 8 * 3600,
                "drive": 11 * 3600,
                "shift": 14 * 3600,
                "cycle": 70 * 3600,
                "cycle_tomorrow": 70 * 3600,
                "cycle_started": (now - timedelta(days=8)).timestamp(),
                "shift_driving_violation": 0,
            }
            status = "offDuty"
        else:
            item["currentVehicle"] = _ref(vehicle)
            clocks = sim.hos_clocks(vehicle, now)
            status = sim.duty_status(vehicle, now)
        # A disconnected driver app reports an empty status, as Samsara does.
        item["currentDutyStatus"] = {"hosStatusType": "" if d.app_disconnected else status}
        item["clocks"] = {
            "break": {"timeUntilBreakDurationMs": int(clocks["break"] * 1000)},
            "drive": {"driveRemainingDurationMs": int(clocks["drive"] * 1000)},
            "shift": {"shiftRemainingDurationMs": int(clocks["shift"] * 1000)},
            "cycle": {
                "cycleRemainingDurationMs": int(clocks["cycle"] * 1000),
                "cycleStartedAtTime": _iso(datetime.fromtimestamp(clocks["cycle_started"], UTC)),
                "cycleTomorrowDurationMs": int(clocks["cycle_tomorrow"] * 1000),
            },
        }
        item["violations"] = {
            "cycleViolationDurationMs": 0,
            "shiftDrivingViolationDurationMs": int(clocks["shift_driving_violation"] * 1000),
        }
        data.append(item)
    return _page(data, after, _limit(limit))


@router.get("/fleet/hos/logs")
def hos_logs(
    request: Request,
    driverIds: str | None = None,
    startTime: str | None = None,
    endTime: str | None = None,
    after: str | None = None,
) -> dict:
    """Duty-status logs per driver in [startTime, endTime] (both default to now)."""
    sim = _sim(request)
    now = sim.now()
    start = _time_param(startTime, "startTime", now)
    end = min(_time_param(endTime, "endTime", now), now)
    data = []
    for d in _drivers(sim, driverIds, include_inactive=False):
        vehicle = sim.vehicle_for_driver(d)
        if vehicle is None:
            continue
        logs = []
        for act in sim.hos_logs(vehicle, start, end):
            entry: dict[str, Any] = {
                "logStartTime": _iso(datetime.fromtimestamp(act.start, UTC)),
                "hosStatusType": act.status,
                "vehicle": _ref(vehicle),
                "codrivers": [],
                "logRecordedLocation": {
                    "latitude": round(act.point[0], 6),
                    "longitude": round(act.point[1], 6),
                },
            }
            if act.end <= now.timestamp():
                entry["logEndTime"] = _iso(datetime.fromtimestamp(act.end, UTC))
            logs.append(entry)
        data.append({"driver": _ref(d), "hosLogs": logs})
    return _page(data, after, 100)


@router.get("/fleet/hos/violations")
def hos_violations(
    request: Request,
    driverIds: str | None = None,
    startTime: str | None = None,
    endTime: str | None = None,
    types: str | None = None,
    after: str | None = None,
) -> dict:
    """HOS violations starting in [startTime, endTime], one data element per driver."""
    sim = _sim(request)
    now = sim.now()
    start = _time_param(startTime, "startTime", now - timedelta(days=1))
    end = _time_param(endTime, "endTime", now)
    drivers = {d.samsara_id for d in _drivers(sim, driverIds)}
    kinds = set(_csv(types))
    grouped: dict[str, list[dict[str, Any]]] = {}
    for v in sim.hos_violations(start, end):
        if v.driver.samsara_id not in drivers or (kinds and v.kind not in kinds):
            continue
        local = v.start.astimezone(ZoneInfo(v.driver.timezone))
        day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        grouped.setdefault(v.driver.samsara_id, []).append(
            {
                "type": v.kind,
                "description": v.description,
                "driver": _ref(v.driver),
                "durationMs": int(v.duration_s * 1000),
                "violationStartTime": _iso(v.start),
                "day": {
                    "startTime": _iso(day_start),
                    "endTime": _iso(day_start + timedelta(days=1)),
                },
            }
        )
    return _page([{"violations": items} for items in grouped.values()], after, 100)


# ---- safety events ---------------------------------------------------------------------------
# `label` is Samsara's `SafetyEventBehaviorLabelType` (lowerCamel); `name` is the display text.
_LABEL_NAMES = {"braking": "Harsh Brake", "speeding": "Speeding"}


@router.get("/fleet/safety-events")
def legacy_safety_events(
    request: Request,
    startTime: str | None = None,
    endTime: str | None = None,
    after: str | None = None,
    vehicleIds: str | None = None,
) -> dict:
    """Legacy safety events in a required [startTime, endTime] window."""
    sim = _sim(request)
    start = _time_param(startTime, "startTime")
    end = _time_param(endTime, "endTime")
    wanted = set(_csv(vehicleIds))
    data = []
    for e in sim.safety_events(start, end):
        if wanted and e.vehicle.samsara_id not in wanted:
            continue
        data.append(
            {
                "id": e.legacy_id,
                "time": _iso(e.time),
                "vehicle": {**_ref(e.vehicle), "externalIds": _vehicle_external_ids(e.vehicle)},
                "driver": _ref(e.vehicle.driver),
                "location": {"latitude": e.latitude, "longitude": e.longitude},
                "maxAccelerationGForce": e.max_g,
                "behaviorLabels": [
                    {"label": e.label, "source": "automated", "name": _LABEL_NAMES[e.label]}
                ],
                "coachingState": "needsReview",
                "downloadForwardVideoUrl": f"https://media.sandbox.invalid/{e.event_id}.mp4",
            }
        )
    return _page(data, after, 100)


def _event_v2(e: SafetyEvent, include_asset: bool, include_driver: bool) -> dict[str, Any]:
    v, d = e.vehicle, e.vehicle.driver
    created = e.time + timedelta(minutes=2)
    body: dict[str, Any] = {
        "id": e.event_id,
        "asset": {
            "id": v.samsara_id,
            **(
                {
                    "name": v.unit,
                    "vin": v.vin,
                    "type": "vehicle",
                    "externalIds": _vehicle_external_ids(v),
                }
                if include_asset
                else {}
            ),
        },
        "driver": {
            "id": d.samsara_id,
            **(
                {"name": d.name, "externalIds": {"ditatDriverId": d.ditat_id}}
                if include_driver
                else {}
            ),
        },
        "startMs": _iso(e.time),
        "endMs": _iso(e.time + timedelta(seconds=8)),
        "createdAtTime": _iso(created),
        "updatedAtTime": _iso(created),
        "eventState": "needsReview",
        "behaviorLabels": [{"label": e.label, "source": "automated"}],
        "location": {
            "latitude": e.latitude,
            "longitude": e.longitude,
            "headingDegrees": e.heading,
            "accuracyMeters": 5.0,
        },
        "maxAccelerationGForce": e.max_g,
        "inboxEventUrl": f"https://cloud.samsara.com/o/1/fleet/safety/event/{e.event_id}",
    }
    if e.label == "speeding":
        body["speedingMetadata"] = {
            "maxSpeedKilometersPerHour": e.speed_kph,
            "postedSpeedLimitKilometersPerHour": e.limit_kph,
        }
    return body


@router.get("/safety-events/stream")
def safety_events_stream(
    request: Request,
    startTime: str | None = None,
    endTime: str | None = None,
    after: str | None = None,
    queryByTimeField: str = "updatedAtTime",
    includeAsset: bool = False,
    includeDriver: bool = False,
    assetIds: str | None = None,
    driverIds: str | None = None,
) -> dict:
    """Safety events (v2) by created/updated time from a required startTime; open-ended = feed."""
    sim = _sim(request)
    if queryByTimeField not in ("updatedAtTime", "createdAtTime"):
        raise SamsaraError(400, "queryByTimeField must be updatedAtTime or createdAtTime")
    now = sim.now()
    start = _time_param(startTime, "startTime")
    end = min(_time_param(endTime, "endTime", now), now)
    lag = timedelta(minutes=2)  # events are created/updated two minutes after they happen
    assets, drivers = set(_csv(assetIds)), set(_csv(driverIds))
    events = [
        _event_v2(e, includeAsset, includeDriver)
        for e in sim.safety_events(start - lag, end - lag)
        if (not assets or e.vehicle.samsara_id in assets)
        and (not drivers or e.vehicle.driver.samsara_id in drivers)
    ]
    page = _page(events, after, 100)
    if not page["pagination"]["hasNextPage"] and endTime is None:
        # An open-ended stream: keep a cursor at the end so the next poll returns only new events.
        offset = (_decode(after, "o") or 0) + len(page["data"])
        page["pagination"]["endCursor"] = _encode("o", offset)
    return page
