"""Samsara → our tables: vehicles, drivers, locations (feed cursor), HOS and safety events.

Every page is validated like user input before anything is written: a record missing a required
field, with an unparseable timestamp or impossible coordinates is skipped with a counted reason;
a page that is not the documented shape fails the page (nothing of it written) and the run.
Trucks and drivers a feed mentions but we have never seen get a minimal row (`ensure_*`) so no
position or log is dropped; the next reference-data run fills them in.

Windows: HOS logs, HOS violations and legacy safety events are read in time windows; the cursor
is the end of the last committed window and each run starts `WINDOW_OVERLAP` before it, because
Samsara data lags while driver apps upload (upserts make the overlap harmless).
"""

from __future__ import annotations

import queue
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from config import Settings, get_settings
from db.database import get_engine
from db.upsert import bulk_upsert, insert_new, row_renderer
from helpers.phone import try_e164
from helpers.time_utils import is_valid_timezone, parse_vendor_timestamp, utc_now
from logic.ingest.matching import (
    DITAT_DRIVER_ID_KEYS,
    DriverIndex,
    VehicleIndex,
    external_value,
    normalize_name,
    upsert_with_matches,
)
from logic.ingest.runner import BadVendorData, PageWrite, RunHandle
from models.driver import Driver, DriverStatus
from models.hos import DutyStatus, HosClock, HosLog, HosViolation, ms_to_minutes
from models.location import VehicleLocation
from models.safety_event import SafetyEvent, Severity
from models.stop_visit import FacilityGeofence
from models.vehicle import Vehicle

METERS_PER_MILE = 1609.344
WINDOW_OVERLAP = timedelta(hours=24)
FIRST_WINDOW = timedelta(days=7)
WINDOW_SIZE = timedelta(days=1)
# A vendor clock a little ahead of ours is normal; a point days in the future is bad data.
FUTURE_TOLERANCE = timedelta(hours=1)

DRIVER_VENDOR_COLUMNS = [
    "first_name",
    "last_name",
    "username",
    "status",
    "license_number",
    "license_state",
]
VEHICLE_VENDOR_COLUMNS = ["name", "vin", "make", "model", "year", "license_plate"]


# ---- shared validation ------------------------------------------------------------------------
class SkipRecord(Exception):
    """This one record is bad; the message is the counted skip reason."""


def _require(item: dict, key: str) -> Any:
    value = item.get(key)
    if value is None or value == "":
        raise SkipRecord(f"missing {key}")
    return value


def _timestamp(value: Any, what: str, *, now: datetime) -> datetime:
    if type(value) is str:
        # Fast path for the common `...Z` form (locations arrive by the million).
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is UTC:
            if parsed > now + FUTURE_TOLERANCE:
                raise SkipRecord(f"{what} in the future")
            return parsed
    try:
        parsed = parse_vendor_timestamp(value, epoch=None)
    except (ValueError, TypeError, OverflowError):
        raise SkipRecord(f"invalid {what}") from None
    if parsed is None:
        raise SkipRecord(f"missing {what}")
    if parsed > now + FUTURE_TOLERANCE:
        raise SkipRecord(f"{what} in the future")
    return parsed


def _optional_timestamp(value: Any, what: str, *, now: datetime) -> datetime | None:
    return None if value in (None, "") else _timestamp(value, what, now=now)


def _coordinate(value: Any, what: str, limit: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SkipRecord(f"invalid {what}")
    if not -limit <= value <= limit:
        raise SkipRecord(f"{what} out of range")
    return float(value)


def _optional_location(where: Any, what: str, out: PageWrite) -> tuple[float | None, float | None]:
    """(latitude, longitude) of a location the record can do without: an invalid one is left
    empty and counted in `out.bad_fields`, and the record is kept."""
    if where is None:
        return None, None
    if not isinstance(where, dict):
        out.bad_field(f"{what}: not an object")
        return None, None
    lat, lon = where.get("latitude"), where.get("longitude")
    if lat is None and lon is None:
        return None, None
    try:
        return _coordinate(lat, "latitude", 90), _coordinate(lon, "longitude", 180)
    except SkipRecord as exc:
        out.bad_field(f"{what}: {exc}")
        return None, None


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _text(value: Any, limit: int) -> str | None:
    if value is None or value == "":
        return None
    return str(value)[:limit]


# ---- rows Samsara mentions that we must be able to link to ---------------------------------------
def ensure_vehicles(session: Session, refs: dict[str, str | None]) -> dict[str, int]:
    """Our vehicle id for each Samsara vehicle id, inserting a minimal row for unknown ones."""
    ids = _ids_by_samsara(session, Vehicle, refs)
    missing = {sid: name for sid, name in refs.items() if sid not in ids}
    if missing:
        now = utc_now()
        rows = [
            {"samsara_id": sid, "unit_number": (name or sid)[:50], "name": _text(name, 100),
             "status": "active", "created_at": now, "updated_at": now}
            for sid, name in missing.items()
        ]  # fmt: skip
        bulk_upsert(session, Vehicle, rows, conflict_columns=["samsara_id"], update_columns=[])
        ids.update(_ids_by_samsara(session, Vehicle, missing))
    return ids


def ensure_drivers(session: Session, refs: dict[str, str | None]) -> dict[str, int]:
    """Our driver id for each Samsara driver id, inserting a minimal row for unknown ones."""
    ids = _ids_by_samsara(session, Driver, refs)
    missing = {sid: name for sid, name in refs.items() if sid not in ids}
    if missing:
        now = utc_now()
        rows = []
        for sid, name in missing.items():
            first, _, last = (name or "").strip().partition(" ")
            rows.append(
                {"samsara_id": sid, "first_name": first[:100], "last_name": last.strip()[:100],
                 "status": DriverStatus.ACTIVE.value, "language": "en", "do_not_call": False,
                 "created_at": now, "updated_at": now}
            )  # fmt: skip
        bulk_upsert(session, Driver, rows, conflict_columns=["samsara_id"], update_columns=[])
        ids.update(_ids_by_samsara(session, Driver, missing))
    return ids


def _ids_by_samsara(session: Session, model: Any, refs: Iterable[str]) -> dict[str, int]:
    wanted = list(refs)
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = session.execute(
            select(model.samsara_id, model.id).where(col(model.samsara_id).in_(chunk))
        )
        found.update({sid: row_id for sid, row_id in rows})
    return found


def _ref_id(item: dict, key: str) -> tuple[str, str | None] | None:
    ref = item.get(key)
    if not isinstance(ref, dict) or not ref.get("id"):
        return None
    return str(ref["id"]), _text(ref.get("name"), 100)


# ---- vehicles -------------------------------------------------------------------------------
def _vehicle_row(item: dict, now: datetime) -> dict[str, Any]:
    samsara_id = str(_require(item, "id"))
    name = _text(item.get("name"), 100)
    vin = _text(item.get("vin"), 17)
    year = item.get("year")
    year_int = int(year) if isinstance(year, str | int) and str(year).isdigit() else None
    return {
        "samsara_id": samsara_id,
        "unit_number": (name or samsara_id)[:50],
        "name": name,
        "vin": vin.upper() if vin else None,
        "make": _text(item.get("make"), 50),
        "model": _text(item.get("model"), 50),
        "year": year_int,
        "license_plate": _text(item.get("licensePlate"), 20),
        "status": "active",
        "created_at": now,
        "updated_at": now,
    }


def write_vehicles(session: Session, items: list[dict]) -> PageWrite:
    out = PageWrite(fetched=len(items))
    now = utc_now()
    index = VehicleIndex.load(session, "samsara")
    own, matched = [], []
    for item in items:
        try:
            row = _vehicle_row(item, now)
        except SkipRecord as exc:
            out.skip(f"vehicle: {exc}")
            continue
        if row["samsara_id"] in index.by_own_id:
            own.append(row)
            continue
        ditat_unit = (item.get("externalIds") or {}).get("ditatTruckId")
        hit = index.match(units=[row["unit_number"], ditat_unit], vin=row["vin"])
        if hit is None:
            own.append(row)
            if index.other_source_present:
                out.unmatched_ref("samsara_vehicle_without_ditat_truck", row["samsara_id"])
        else:
            matched.append({"id": hit.row_id, **row})
    _upsert_units(session, Vehicle, own, matched, out)
    return out


def _upsert_units(session: Session, model: Any, own: list, matched: list, out: PageWrite) -> None:
    update = VEHICLE_VENDOR_COLUMNS if model is Vehicle else DRIVER_VENDOR_COLUMNS
    out.result += upsert_with_matches(session, model, "samsara_id", own, matched, update)


# ---- drivers ----------------------------------------------------------------------------------
def _driver_row(item: dict, now: datetime) -> dict[str, Any]:
    samsara_id = str(_require(item, "id"))
    name = str(_require(item, "name")).strip()
    first, _, last = name.partition(" ")
    deactivated = item.get("driverActivationStatus") == "deactivated" or item.get("isDeactivated")
    timezone = item.get("timezone")
    carrier = item.get("carrierSettings")
    terminal = carrier.get("homeTerminalName") if isinstance(carrier, dict) else None
    return {
        "samsara_id": samsara_id,
        "ditat_id": external_value(item.get("externalIds"), DITAT_DRIVER_ID_KEYS),
        "first_name": first[:100],
        "last_name": last.strip()[:100],
        "username": _text(item.get("username"), 100),
        "phone": try_e164(item.get("phone")) if item.get("phone") else None,
        "email": _text(item.get("email"), 255),
        "timezone": timezone if isinstance(timezone, str) and is_valid_timezone(timezone) else None,
        # Where the driver reports for work: the scope of terminal reports and rules.
        "terminal": _text(terminal, 100),
        "status": (DriverStatus.INACTIVE if deactivated else DriverStatus.ACTIVE).value,
        "license_number": _text(item.get("licenseNumber"), 50),
        "license_state": _text(item.get("licenseState"), 10),
        "language": "en",
        "do_not_call": False,
        "created_at": now,
        "updated_at": now,
    }


def write_drivers(session: Session, items: list[dict]) -> PageWrite:
    out = PageWrite(fetched=len(items))
    now = utc_now()
    index = DriverIndex.load(session, "samsara")
    own, matched = [], []
    for item in items:
        try:
            row = _driver_row(item, now)
        except SkipRecord as exc:
            out.skip(f"driver: {exc}")
            continue
        if row["samsara_id"] in index.by_own_id:
            row.pop("ditat_id")  # never re-key an existing person from a vendor field
            own.append(row)
            continue
        other_ids = [str(v) for v in (item.get("externalIds") or {}).values() if v]
        hit = index.match(
            other_ids=other_ids,
            phone=row["phone"],
            name=normalize_name(row["first_name"], row["last_name"]),
        )
        if hit is None:
            own.append(row)
            if not row["ditat_id"] and index.other_source_present:
                out.unmatched_ref("samsara_driver_without_ditat_driver", row["samsara_id"])
        else:
            row.pop("ditat_id")
            matched.append({"id": hit.row_id, **row})
    # Rows must share keys: new rows carry ditat_id (from externalIds), existing ones do not.
    fresh = [r for r in own if "ditat_id" in r]
    known = [r for r in own if "ditat_id" not in r]
    _upsert_units(session, Driver, fresh, matched, out)
    _upsert_units(session, Driver, known, [], out)
    return out


# ---- locations --------------------------------------------------------------------------------
# Vendor feed pages are small (≈512 points); writing one transaction per vendor page would spend
# more on commits than on rows, so consecutive pages are merged into batches of about this many
# points (`INGEST_LOCATION_BATCH_ROWS`). The cursor stored with a batch is its last page's, so it
# still only moves with committed data.


LOCATION_COLUMNS = [
    "vehicle_id",
    "recorded_at",
    "latitude",
    "longitude",
    "speed_mph",
    "heading_degrees",
    "formatted_address",
]


@dataclass
class LocationBatch:
    """Feed pages validated and mapped (off the database thread), ready to write.

    Points are grouped by Samsara vehicle id, each point already in the form `insert_new` wants
    on this database (`render`): on PostgreSQL a line of COPY text, built here on the prefetch
    thread, so the writer only adds our vehicle id, once per truck.
    """

    render: Callable[[Sequence[Any]], Any] = tuple
    points: dict[str, list[Any]] = field(default_factory=dict)
    refs: dict[str, str | None] = field(default_factory=dict)
    rows: int = 0
    fetched: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    end_cursor: str | None = None


def map_locations(items: list[dict], batch: LocationBatch, now: datetime) -> LocationBatch:
    """Map feed items (`{id, name, locations: [...]}`) into `batch`; bad points are counted."""
    skipped, render = batch.skipped, batch.render
    for item in items:
        if not isinstance(item, dict):
            raise BadVendorData("samsara: page data holds something other than objects")
        points = item.get("locations")
        sid = item.get("id")
        batch.fetched += len(points) if isinstance(points, list) else 1
        if not sid or not isinstance(points, list):
            skipped["location: vehicle item without id or locations"] += max(len(points or []), 1)
            continue
        sid = str(sid)
        batch.refs[sid] = _text(item.get("name"), 100)
        out = batch.points.setdefault(sid, [])
        before = len(out)
        for point in points:
            try:
                if not isinstance(point, dict):
                    raise SkipRecord("not an object")
                geo = point.get("reverseGeo")
                out.append(
                    render(
                        (
                            _timestamp(point.get("time"), "time", now=now),
                            _coordinate(point.get("latitude"), "latitude", 90),
                            _coordinate(point.get("longitude"), "longitude", 180),
                            _number(point.get("speed")),
                            _number(point.get("heading")),
                            _text(
                                geo.get("formattedLocation") if isinstance(geo, dict) else None,
                                300,
                            ),
                        )
                    )
                )
            except SkipRecord as exc:
                skipped[f"location: {exc}"] += 1
        batch.rows += len(out) - before
    return batch


def write_location_batch(
    session: Session, batch: LocationBatch, vehicle_cache: dict[str, int]
) -> PageWrite:
    """Resolve Samsara vehicle ids to ours (creating unknown trucks) and insert the new points.

    Insert-only: a GPS point is an immutable fact, so a point we already hold is left as it is
    (counted unchanged) and the merge skips the change test an upsert would run on every row.
    """
    unknown = {sid: name for sid, name in batch.refs.items() if sid not in vehicle_cache}
    if unknown:
        vehicle_cache.update(ensure_vehicles(session, unknown))
    out = PageWrite(fetched=batch.fetched, skipped=Counter(batch.skipped))
    out.result += insert_new(
        session,
        VehicleLocation,
        LOCATION_COLUMNS,
        [(vehicle_cache[sid], points) for sid, points in batch.points.items()],
        conflict_columns=["vehicle_id", "recorded_at"],
    )
    return out


def write_locations(
    session: Session, items: list[dict], vehicle_cache: dict[str, int]
) -> PageWrite:
    """One feed page, mapped and written in the caller's transaction."""
    batch = LocationBatch(render=row_renderer(session.get_bind().dialect.name))
    return write_location_batch(session, map_locations(items, batch, utc_now()), vehicle_cache)


def location_batches(
    pages: Iterable[tuple[list[Any], str, bool]],
    render: Callable[[Sequence[Any]], Any] = tuple,
) -> Iterator[LocationBatch]:
    """Merge consecutive feed pages into mapped batches of about `INGEST_LOCATION_BATCH_ROWS`."""
    limit = get_settings().INGEST_LOCATION_BATCH_ROWS
    batch = LocationBatch(render=render)
    for data, end_cursor, _more in pages:
        map_locations(data, batch, utc_now())
        batch.end_cursor = end_cursor or batch.end_cursor
        if batch.rows >= limit:
            yield batch
            batch = LocationBatch(render=render, end_cursor=batch.end_cursor)
    yield batch


# ---- HOS --------------------------------------------------------------------------------------
def write_hos_clocks(session: Session, items: list[dict]) -> PageWrite:
    out = PageWrite(fetched=len(items))
    now = utc_now()
    drivers = {r[0]: r[1] for r in (_ref_id(i, "driver") for i in items) if r}
    vehicles = {r[0]: r[1] for r in (_ref_id(i, "currentVehicle") for i in items) if r}
    driver_ids = ensure_drivers(session, drivers)
    vehicle_ids = ensure_vehicles(session, vehicles)
    rows = []
    for item in items:
        ref = _ref_id(item, "driver")
        if ref is None:
            out.skip("hos clock: missing driver")
            continue
        clocks = item.get("clocks") if isinstance(item.get("clocks"), dict) else {}
        violations = item.get("violations") if isinstance(item.get("violations"), dict) else {}
        status = (item.get("currentDutyStatus") or {}).get("hosStatusType")
        vehicle = _ref_id(item, "currentVehicle")

        def ms(section: str, key: str, clocks: dict = clocks) -> int | None:
            value = (clocks.get(section) or {}).get(key)
            return ms_to_minutes(value) if isinstance(value, int | float) else None

        try:
            cycle_started = _optional_timestamp(
                (clocks.get("cycle") or {}).get("cycleStartedAtTime"), "cycle start", now=now
            )
        except SkipRecord as exc:
            out.skip(f"hos clock: {exc}")
            continue
        rows.append(
            {
                "driver_id": driver_ids[ref[0]],
                "vehicle_id": vehicle_ids.get(vehicle[0]) if vehicle else None,
                "duty_status": DutyStatus.from_samsara(status).value,
                "drive_remaining_minutes": ms("drive", "driveRemainingDurationMs"),
                "shift_remaining_minutes": ms("shift", "shiftRemainingDurationMs"),
                "cycle_remaining_minutes": ms("cycle", "cycleRemainingDurationMs"),
                "cycle_tomorrow_minutes": ms("cycle", "cycleTomorrowDurationMs"),
                "time_until_break_minutes": ms("break", "timeUntilBreakDurationMs"),
                "cycle_started_at": cycle_started,
                "cycle_violation_minutes": ms_to_minutes(
                    violations.get("cycleViolationDurationMs") or 0
                ),
                "shift_driving_violation_minutes": ms_to_minutes(
                    violations.get("shiftDrivingViolationDurationMs") or 0
                ),
                "as_of": now,
            }
        )
    # `as_of` changes every run by design (it is when we last saw the clock), so it is a touch
    # column: only a changed clock counts as an update.
    out.result += bulk_upsert(
        session, HosClock, rows, conflict_columns=["driver_id"], touch_columns=["as_of"]
    )
    return out


def write_hos_logs(session: Session, items: list[dict]) -> PageWrite:
    out = PageWrite()
    now = utc_now()
    driver_ids = ensure_drivers(
        session, {r[0]: r[1] for r in (_ref_id(i, "driver") for i in items) if r}
    )
    vehicle_refs: dict[str, str | None] = {}
    for item in items:
        for log in item.get("hosLogs") or []:
            ref = _ref_id(log, "vehicle") if isinstance(log, dict) else None
            if ref:
                vehicle_refs[ref[0]] = ref[1]
    vehicle_ids = ensure_vehicles(session, vehicle_refs)
    rows = []
    for item in items:
        ref = _ref_id(item, "driver")
        logs = item.get("hosLogs")
        if ref is None or not isinstance(logs, list):
            out.skip("hos log: driver item without driver or hosLogs")
            continue
        for log in logs:
            out.fetched += 1
            try:
                if not isinstance(log, dict):
                    raise SkipRecord("not an object")
                start = _timestamp(log.get("logStartTime"), "logStartTime", now=now)
                end = _optional_timestamp(log.get("logEndTime"), "logEndTime", now=now)
                if end is not None and end < start:
                    raise SkipRecord("logEndTime before logStartTime")
                lat, lon = _optional_location(
                    log.get("logRecordedLocation"), "hos log logRecordedLocation", out
                )
                vehicle = _ref_id(log, "vehicle")
                rows.append(
                    {
                        "driver_id": driver_ids[ref[0]],
                        "vehicle_id": vehicle_ids.get(vehicle[0]) if vehicle else None,
                        "duty_status": DutyStatus.from_samsara(log.get("hosStatusType")).value,
                        "start_at": start,
                        "end_at": end,
                        "latitude": lat,
                        "longitude": lon,
                        "remark": _text(log.get("remark"), 500),
                        "updated_at": now,
                    }
                )
            except SkipRecord as exc:
                out.skip(f"hos log: {exc}")
    out.result += bulk_upsert(
        session, HosLog, rows, conflict_columns=["driver_id", "start_at"],
        touch_columns=["updated_at"],
    )  # fmt: skip
    return out


def write_hos_violations(session: Session, items: list[dict]) -> PageWrite:
    out = PageWrite()
    now = utc_now()
    flat = [v for item in items for v in (item.get("violations") or []) if isinstance(v, dict)]
    driver_ids = ensure_drivers(
        session, {r[0]: r[1] for r in (_ref_id(v, "driver") for v in flat) if r}
    )
    rows = []
    for item in items:
        violations = item.get("violations")
        if not isinstance(violations, list):
            out.skip("hos violation: data element without violations")
            continue
        for violation in violations:
            out.fetched += 1
            try:
                if not isinstance(violation, dict):
                    raise SkipRecord("not an object")
                ref = _ref_id(violation, "driver")
                if ref is None:
                    raise SkipRecord("missing driver")
                day = violation.get("day") if isinstance(violation.get("day"), dict) else {}
                duration = violation.get("durationMs")
                rows.append(
                    {
                        "driver_id": driver_ids[ref[0]],
                        "violation_type": str(_require(violation, "type"))[:80],
                        "description": _text(violation.get("description"), 300),
                        "started_at": _timestamp(
                            violation.get("violationStartTime"), "violationStartTime", now=now
                        ),
                        "duration_minutes": ms_to_minutes(duration)
                        if isinstance(duration, int | float)
                        else None,
                        "day_start": _optional_timestamp(day.get("startTime"), "day", now=now),
                        "day_end": _optional_timestamp(
                            day.get("endTime"), "day", now=now + timedelta(days=2)
                        ),
                        "updated_at": now,
                    }
                )
            except SkipRecord as exc:
                out.skip(f"hos violation: {exc}")
    out.result += bulk_upsert(
        session, HosViolation, rows, conflict_columns=["driver_id", "violation_type", "started_at"],
        touch_columns=["updated_at"],
    )  # fmt: skip
    return out


# ---- safety events (legacy list) --------------------------------------------------------------
# Keyed by Samsara's `SafetyEventBehaviorLabelType` values (lowerCamel, lower-cased here; the
# spec's own spelling `nearCollison` included). Samsara adds labels over time: unknown ones are LOW.
_SEVERITY_BY_LABEL = {
    "crash": Severity.CRITICAL,
    "nearcollison": Severity.HIGH,
    "nearcollision": Severity.HIGH,
    "forwardcollisionwarning": Severity.HIGH,
    "rolloverprotection": Severity.HIGH,
    "ranredlight": Severity.HIGH,
    "drowsy": Severity.HIGH,
    "mobileusage": Severity.HIGH,
    "edgedistracteddriving": Severity.HIGH,
    "genericdistraction": Severity.HIGH,
    "followingdistancesevere": Severity.HIGH,
    "braking": Severity.MEDIUM,
    "acceleration": Severity.MEDIUM,
    "harshturn": Severity.MEDIUM,
    "yawcontrol": Severity.MEDIUM,
    "speeding": Severity.MEDIUM,
    "didnotyield": Severity.MEDIUM,
    "noseatbelt": Severity.MEDIUM,
    "lanedeparture": Severity.MEDIUM,
    "lateresponse": Severity.MEDIUM,
    "followingdistance": Severity.MEDIUM,
    "followingdistancemoderate": Severity.MEDIUM,
    "generictailgating": Severity.MEDIUM,
    "rollingstop": Severity.LOW,
}
_RANK = [Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


def severity_for(labels: list[str], max_g: float | None) -> Severity:
    """The worst label's severity; a harsh event at ≥ 0.5 g is one step worse."""
    found = [_SEVERITY_BY_LABEL.get(label.lower(), Severity.LOW) for label in labels]
    worst = max(found, key=_RANK.index, default=Severity.LOW)
    if max_g is not None and abs(max_g) >= 0.5 and worst != Severity.CRITICAL:
        worst = _RANK[_RANK.index(worst) + 1]
    return worst


def write_safety_events(session: Session, items: list[dict]) -> PageWrite:
    out = PageWrite(fetched=len(items))
    now = utc_now()
    driver_ids = ensure_drivers(
        session, {r[0]: r[1] for r in (_ref_id(i, "driver") for i in items) if r}
    )
    vehicle_ids = ensure_vehicles(
        session, {r[0]: r[1] for r in (_ref_id(i, "vehicle") for i in items) if r}
    )
    rows = []
    for item in items:
        try:
            event_id = str(_require(item, "id"))
            labels = [
                str(lb.get("label") or lb.get("name"))
                for lb in item.get("behaviorLabels") or []
                if isinstance(lb, dict) and (lb.get("label") or lb.get("name"))
            ]
            lat, lon = _optional_location(item.get("location"), "safety event location", out)
            max_g = _number(item.get("maxAccelerationGForce"))
            driver, vehicle = _ref_id(item, "driver"), _ref_id(item, "vehicle")
            rows.append(
                {
                    "samsara_id": event_id[:100],
                    "driver_id": driver_ids.get(driver[0]) if driver else None,
                    "vehicle_id": vehicle_ids.get(vehicle[0]) if vehicle else None,
                    "occurred_at": _timestamp(item.get("time"), "time", now=now),
                    "ended_at": None,
                    "behavior_labels": labels,
                    "severity": severity_for(labels, max_g).value,
                    "speed_mph": None,
                    "speed_limit_mph": None,
                    "max_acceleration_g": max_g,
                    "latitude": lat,
                    "longitude": lon,
                    "address": None,
                    "coaching_state": _text(item.get("coachingState"), 30),
                    "updated_at": now,
                }
            )
        except SkipRecord as exc:
            out.skip(f"safety event: {exc}")
    out.result += bulk_upsert(
        session, SafetyEvent, rows, conflict_columns=["samsara_id"], touch_columns=["updated_at"]
    )
    return out


# ---- the runs --------------------------------------------------------------------------------
# Raw pages (`client.pages`) rather than the client's typed lists: one malformed record is
# skipped and counted here instead of failing the whole page in the client's parser.
Pages = Iterator[tuple[list[Any], str, bool]]


def _checked(data: list[Any]) -> list[dict]:
    if not all(isinstance(item, dict) for item in data):
        raise BadVendorData("samsara: page data holds something other than objects")
    return data


def _paged(run: RunHandle, pages: Pages, write) -> None:
    """Reference lists: every page in its own transaction; the run's cursor stays as it is."""
    for data, _end, _more in pages:
        items = _checked(data)
        run.write_page(lambda s, items=items: write(s, items))


def ingest_vehicles(run: RunHandle, client: Any) -> None:
    _paged(run, client.pages("/fleet/vehicles", {"limit": client.page_size}), write_vehicles)


def ingest_drivers(run: RunHandle, client: Any) -> None:
    for status in ("active", "deactivated"):  # Samsara omits deactivated drivers by default
        params = {"limit": client.page_size, "driverActivationStatus": status}
        _paged(run, client.pages("/fleet/drivers", params), write_drivers)


def _address_row(item: dict, now: datetime) -> dict[str, Any]:
    """A Samsara address's geofence: a circle (radius in metres) or polygon vertices."""
    samsara_id = str(_require(item, "id"))[:64]
    geofence = item.get("geofence") or {}
    circle = geofence.get("circle") or {}
    polygon = geofence.get("polygon") or {}
    lat = item.get("latitude", circle.get("latitude"))
    lon = item.get("longitude", circle.get("longitude"))
    vertices = [
        {
            "latitude": _coordinate(v.get("latitude"), "vertex latitude", 90),
            "longitude": _coordinate(v.get("longitude"), "vertex longitude", 180),
        }
        for v in polygon.get("vertices") or []
        if isinstance(v, dict)
    ]
    if not vertices and not circle.get("radiusMeters"):
        raise SkipRecord(f"address {samsara_id} has no geofence")
    if vertices and (lat is None or lon is None):
        lat = sum(v["latitude"] for v in vertices) / len(vertices)
        lon = sum(v["longitude"] for v in vertices) / len(vertices)
    return {
        "samsara_id": samsara_id,
        "name": _text(item.get("name"), 200),
        "formatted_address": _text(item.get("formattedAddress"), 1024),
        "latitude": _coordinate(lat, "address latitude", 90),
        "longitude": _coordinate(lon, "address longitude", 180),
        "radius_meters": None if vertices else _number(circle.get("radiusMeters")),
        "vertices": vertices or None,
        "updated_at": now,
    }


def write_addresses(session: Session, items: list[dict]) -> PageWrite:
    """Samsara addresses with a geofence, for the stop-visit pass (logic/trips/stop_visits.py)."""
    out = PageWrite(fetched=len(items))
    now = utc_now()
    rows = []
    for item in items:
        try:
            rows.append(_address_row(item, now))
        except SkipRecord as exc:
            out.skip(f"address: {exc}")
    out.result += bulk_upsert(
        session,
        FacilityGeofence,
        rows,
        conflict_columns=["samsara_id"],
        touch_columns=["updated_at"],
    )
    return out


def ingest_addresses(run: RunHandle, client: Any) -> None:
    _paged(run, client.pages("/addresses", {"limit": client.page_size}), write_addresses)


# While a prefetch thread is busy in Python, the writing thread needs the GIL back after every
# database round trip and waits up to one switch interval (5 ms by default) each time: at ~10
# round trips per batch that idled the database for a fifth of the run. A shorter interval
# while any prefetch runs (process-wide, restored when the last one ends) hands it back sooner.
PREFETCH_SWITCH_INTERVAL = 0.0005
_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.0


@contextmanager
def _short_switch_interval() -> Iterator[None]:
    global _switch_users, _switch_saved
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_saved, PREFETCH_SWITCH_INTERVAL))
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


def prefetch(pages: Iterable[Any], depth: int = 2) -> Iterator[Any]:
    """Fetch the next pages on a helper thread while the current one is written: the HTTP
    wait and JSON decoding overlap the database merge (which releases the GIL). Bounded, so
    memory stays at `depth` pages; an error while fetching surfaces here, in order."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        slots.put((page, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put((done, None))
        except BaseException as exc:  # handed to the consumer, re-raised there
            slots.put((done, exc))

    worker = threading.Thread(target=produce, name="ingest-prefetch", daemon=True)
    with _short_switch_interval():
        worker.start()
        try:
            while True:
                page, error = slots.get()
                if page is done:
                    if error is not None:
                        raise error
                    return
                yield page
        finally:
            stop.set()
            worker.join(timeout=5)


def ingest_locations(run: RunHandle, client: Any) -> None:
    """Follow the locations feed from the stored cursor until Samsara says it is caught up.

    Fetching, decoding and mapping run one batch ahead on a helper thread; this thread only
    writes, so the vendor round trips and our Python work overlap the database merge.
    """
    vehicle_cache: dict[str, int] = {}
    pages = client.pages("/fleet/vehicles/locations/feed", {}, after=run.cursor)
    render = row_renderer(get_engine().dialect.name)
    for batch in prefetch(location_batches(pages, render)):
        run.write_page(
            lambda s, batch=batch: write_location_batch(s, batch, vehicle_cache),
            cursor_after=batch.end_cursor or run.cursor,
        )


def ingest_hos_clocks(run: RunHandle, client: Any) -> None:
    pages = client.pages("/fleet/hos/clocks", {"limit": client.page_size})
    _paged(run, pages, write_hos_clocks)


def _windows(run: RunHandle, now: datetime) -> Iterator[tuple[datetime, datetime]]:
    """UTC days from (cursor minus overlap, or a week back on the first run) up to now."""
    try:
        last = parse_vendor_timestamp(run.cursor, epoch=None) if run.cursor else None
    except ValueError:
        last = None
    start = (last - WINDOW_OVERLAP) if last else now - FIRST_WINDOW
    # Windows sit on UTC midnights, so every run asks Samsara the same questions about the past.
    start = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while start < now:
        end = min(start + WINDOW_SIZE, now)
        yield start, end
        start = end


def _windowed(run: RunHandle, client: Any, path: str, write) -> None:
    """Each window's pages are committed; the cursor moves to the window end with its last page."""
    for start, end in _windows(run, utc_now()):
        params = {"startTime": _rfc3339(start), "endTime": _rfc3339(end)}
        for data, _end, more in client.pages(path, params):
            items = _checked(data)
            run.write_page(
                lambda s, items=items: write(s, items),
                cursor_after=run.cursor if more else end.isoformat(),
            )


def _rfc3339(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def ingest_hos_logs(run: RunHandle, client: Any) -> None:
    _windowed(run, client, "/fleet/hos/logs", write_hos_logs)


def ingest_hos_violations(run: RunHandle, client: Any) -> None:
    _windowed(run, client, "/fleet/hos/violations", write_hos_violations)


def ingest_safety_events(run: RunHandle, client: Any) -> None:
    _windowed(run, client, "/fleet/safety-events", write_safety_events)


ENTITIES = {
    "vehicles": ingest_vehicles,
    "drivers": ingest_drivers,
    "locations": ingest_locations,
    "hos-clocks": ingest_hos_clocks,
    "hos-logs": ingest_hos_logs,
    "hos-violations": ingest_hos_violations,
    "safety-events": ingest_safety_events,
    "addresses": ingest_addresses,
}


def build_client(settings: Settings) -> Any:
    from utils.samsara_client import build_samsara_client

    return build_samsara_client(settings)
