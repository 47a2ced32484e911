"""Samsara REST client: vehicles, drivers, locations, stats, HOS and safety events, typed.

No database access. Bearer auth; cursor pagination (`after` = `pagination.endCursor`, `limit` ≤
512, short or empty pages do not end a listing; an empty `endCursor` does); 429 with fractional
`Retry-After` and 5xx are retried (3 attempts), other 4xx are not. Feeds are iterators of
`FeedPage`s: commit each page, persist `page.end_cursor`; the last page has `caught_up=True`
(Samsara's `hasNextPage=false`: wait ≥5 s and poll again with the same cursor). A page that
hands back a cursor already used while saying `hasNextPage=true` is a stuck listing: it raises
`VendorResponseError` (empty pages may repeat their cursor a few times, never forever).

Endpoints Samsara limits to 5 requests/s per organization (HOS logs, HOS violations, safety
events; telematics.md) are paced to `paced_rate` requests/s, retries included (0: unpaced).

    client = build_samsara_client(get_settings())
    vehicles = client.list_vehicles()                       # list[Vehicle]
    for page in client.location_feed(cursor=saved_cursor):   # FeedPage[VehicleLocations]
        upsert(page.items); save_cursor(page.end_cursor)     # one transaction per page
    clocks = client.hos_clocks()                            # durations in ms
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import httpx
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from helpers.metrics import count_vendor_request
from utils.http import (
    VendorResponseError,
    build_http_client,
    create_is_retryable,
    json_body,
    raise_for_status,
    required_credential,
    with_retries,
)

VENDOR = "samsara"
MAX_LIMIT = 512
MAX_STAT_TYPES = 3
# Guard against a vendor bug looping us forever on a cursor that never advances.
MAX_PAGES = 100_000
# An empty page may hand back the cursor it was given ("nothing more yet"); this many in a row
# is a stuck listing.
MAX_EMPTY_REPEATS = 3
# Endpoints Samsara limits to 5 requests/s per organization (telematics.md, "rate limits").
PACED_PATHS = frozenset(
    {
        "/fleet/hos/logs",
        "/fleet/hos/violations",
        "/fleet/safety-events",
        "/safety-events",
        "/safety-events/stream",
    }
)
PACED_REQUESTS_PER_SECOND = 5.0

T = TypeVar("T", bound=BaseModel)


class SamsaraModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class Ref(SamsaraModel):
    id: str
    name: str | None = None
    external_ids: dict[str, str] = Field(default_factory=dict)


class Vehicle(SamsaraModel):
    id: str
    name: str | None = None
    vin: str | None = None
    external_ids: dict[str, str] = Field(default_factory=dict)
    license_plate: str | None = None
    make: str | None = None
    model: str | None = None
    year: str | None = None  # a string in Samsara's spec
    serial: str | None = None
    static_assigned_driver: Ref | None = None
    created_at_time: datetime | None = None
    updated_at_time: datetime | None = None


class Driver(SamsaraModel):
    id: str
    name: str | None = None
    username: str | None = None
    phone: str | None = None
    email: str | None = None
    license_number: str | None = None
    license_state: str | None = None
    timezone: str | None = None
    driver_activation_status: str | None = None
    external_ids: dict[str, str] = Field(default_factory=dict)
    static_assigned_vehicle: Ref | None = None
    created_at_time: datetime | None = None
    updated_at_time: datetime | None = None


class ReverseGeo(SamsaraModel):
    formatted_location: str | None = None


class Location(SamsaraModel):
    """A `/fleet/vehicles/locations*` point: `heading` in degrees, `speed` in mph."""

    time: datetime
    latitude: float
    longitude: float
    heading: float | None = None
    speed: float | None = None
    reverse_geo: ReverseGeo | None = None


class VehicleLocation(SamsaraModel):
    id: str
    name: str | None = None
    location: Location


class VehicleLocations(SamsaraModel):
    id: str
    name: str | None = None
    locations: list[Location] = Field(default_factory=list)


class GpsStat(SamsaraModel):
    time: datetime
    latitude: float
    longitude: float
    heading_degrees: float | None = None
    speed_miles_per_hour: float | None = None
    is_ecu_speed: bool | None = None
    reverse_geo: ReverseGeo | None = None


class StatValue(SamsaraModel):
    time: datetime
    value: Any = None


class VehicleStatsSnapshot(SamsaraModel):
    """`/fleet/vehicles/stats`: one singular value per stat (`engineState`, `fuelPercent`)."""

    id: str
    name: str | None = None
    external_ids: dict[str, str] = Field(default_factory=dict)
    gps: GpsStat | None = None
    engine_state: StatValue | None = None
    fuel_percent: StatValue | None = None
    obd_odometer_meters: StatValue | None = None


class VehicleStatsFeedItem(SamsaraModel):
    """`/fleet/vehicles/stats/feed`: lists under plural keys (`engineStates`, `fuelPercents`)."""

    id: str
    name: str | None = None
    external_ids: dict[str, str] = Field(default_factory=dict)
    gps: list[GpsStat] = Field(default_factory=list)
    engine_states: list[StatValue] = Field(default_factory=list)
    fuel_percents: list[StatValue] = Field(default_factory=list)
    obd_odometer_meters: list[StatValue] = Field(default_factory=list)


class DutyStatus(SamsaraModel):
    hos_status_type: str = ""  # empty when the driver app is disconnected


class HosClock(SamsaraModel):
    """Current HOS clocks; every duration is in milliseconds."""

    driver: Ref
    current_vehicle: Ref | None = None
    current_duty_status: DutyStatus = Field(default_factory=DutyStatus)
    clocks: dict[str, dict[str, Any]] = Field(default_factory=dict)
    violations: dict[str, int] = Field(default_factory=dict)

    @property
    def break_remaining_ms(self) -> int | None:
        return self.clocks.get("break", {}).get("timeUntilBreakDurationMs")

    @property
    def drive_remaining_ms(self) -> int | None:
        return self.clocks.get("drive", {}).get("driveRemainingDurationMs")

    @property
    def shift_remaining_ms(self) -> int | None:
        return self.clocks.get("shift", {}).get("shiftRemainingDurationMs")

    @property
    def cycle_remaining_ms(self) -> int | None:
        return self.clocks.get("cycle", {}).get("cycleRemainingDurationMs")


class HosLog(SamsaraModel):
    log_start_time: datetime
    log_end_time: datetime | None = None
    hos_status_type: str = ""
    vehicle: Ref | None = None
    codrivers: list[Ref] = Field(default_factory=list)
    log_recorded_location: dict[str, float] | None = None
    remark: str | None = None


class DriverHosLogs(SamsaraModel):
    driver: Ref
    hos_logs: list[HosLog] = Field(default_factory=list)


class HosViolation(SamsaraModel):
    type: str
    description: str | None = None
    driver: Ref
    duration_ms: int = 0
    violation_start_time: datetime
    day: dict[str, datetime] | None = None


class Label(SamsaraModel):
    # A `SafetyEventBehaviorLabelType` (lowerCamel, e.g. `braking`, `nearCollison`); Samsara adds
    # labels over time and its own examples carry `{}` and "Acceleration", so take any or none.
    label: str | None = None
    source: str | None = None
    name: str | None = None


class SafetyEvent(SamsaraModel):
    """A v2 event from `/safety-events/stream` (`startMs`/`endMs` are RFC 3339 strings)."""

    id: str
    asset: Ref | None = None
    driver: Ref | None = None
    start_ms: datetime = Field(validation_alias=AliasChoices("startMs", "start_ms"))
    end_ms: datetime | None = Field(default=None, validation_alias=AliasChoices("endMs", "end_ms"))
    created_at_time: datetime | None = None
    updated_at_time: datetime | None = None
    event_state: str | None = None
    behavior_labels: list[Label] = Field(default_factory=list)
    location: dict[str, Any] | None = None
    max_acceleration_g_force: float | None = Field(
        default=None, validation_alias=AliasChoices("maxAccelerationGForce")
    )
    speeding_metadata: dict[str, Any] | None = None


class LegacySafetyEvent(SamsaraModel):
    """An event from the legacy `/fleet/safety-events` time-window endpoint."""

    id: str
    time: datetime
    vehicle: Ref | None = None
    driver: Ref | None = None
    location: dict[str, float] | None = None
    max_acceleration_g_force: float | None = Field(
        default=None, validation_alias=AliasChoices("maxAccelerationGForce")
    )
    behavior_labels: list[Label] = Field(default_factory=list)
    coaching_state: str | None = None


class MessageSender(SamsaraModel):
    name: str = ""
    type: str = ""  # "dispatch" or "driver"


class FleetMessage(SamsaraModel):
    """One in-cab message (legacy `/v1/fleet/messages`); Samsara gives messages no id."""

    driver_id: int
    text: str
    is_read: bool = False
    sender: MessageSender = Field(default_factory=MessageSender)
    sent_at_ms: int = 0


@dataclass(frozen=True)
class FeedPage(Generic[T]):
    """One feed page: persist `end_cursor` after committing `items`. `caught_up` = no more now."""

    items: list[T]
    end_cursor: str
    caught_up: bool


def _rfc3339(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("Samsara times must be timezone-aware")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _csv(values: Sequence[str] | None) -> str | None:
    return ",".join(values) if values else None


class SamsaraClient:
    """Typed access to the Samsara API over an injected `httpx.Client` (base URL set on it)."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        token: str | None = None,
        page_size: int = MAX_LIMIT,
        retry_wait: float = 0.5,
        max_retry_wait: float = 8.0,
        paced_rate: float = PACED_REQUESTS_PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 1 <= page_size <= MAX_LIMIT:
            raise ValueError(f"page_size must be between 1 and {MAX_LIMIT}")
        self.http = http
        if token:
            http.headers["Authorization"] = f"Bearer {token}"
        self.page_size = page_size
        self.retry_wait = retry_wait
        self.max_retry_wait = max_retry_wait
        self.paced_rate = paced_rate
        self._clock = clock
        self._sleep = sleep
        self._pace_lock = threading.Lock()
        self._next_slot: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"SamsaraClient(base_url={str(self.http.base_url)!r})"

    # ---- transport -------------------------------------------------------------------------
    def _pace(self, path: str) -> None:
        """Wait for the path's next request slot when Samsara limits its rate."""
        if path not in PACED_PATHS or self.paced_rate <= 0:
            return
        with self._pace_lock:
            now = self._clock()
            at = max(now, self._next_slot.get(path, now))
            self._next_slot[path] = at + 1.0 / self.paced_rate
        if at > now:
            self._sleep(at - now)

    def _get_once(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        self._pace(path)
        count_vendor_request(VENDOR)
        response = self.http.get(path, params={k: v for k, v in params.items() if v is not None})
        if response.status_code >= 400:
            raise_for_status(VENDOR, response, _error_message(response))
        body = json_body(VENDOR, response)
        if not isinstance(body, dict) or "data" not in body:
            raise VendorResponseError(
                VENDOR, f"unexpected response shape from {path}", status=response.status_code
            )
        return body

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One GET with the retry policy (network errors, 429 honouring Retry-After, 5xx)."""
        return with_retries(
            lambda: self._get_once(path, params or {}),
            vendor=VENDOR,
            initial_wait=self.retry_wait,
            max_wait=self.max_retry_wait,
        )

    def pages(
        self, path: str, params: dict[str, Any] | None = None, *, after: str | None = None
    ) -> Iterator[tuple[list[dict[str, Any]], str, bool]]:
        """Raw pages `(data, endCursor, hasNextPage)`; stops when `hasNextPage` is false or the
        cursor is empty — never on a short or empty page — and raises on a stuck cursor."""
        params = dict(params or {})
        used = {after} if after else set()
        empty_repeats = 0
        for _ in range(MAX_PAGES):
            body = self.get(path, {**params, "after": after} if after else params)
            pagination = body.get("pagination") or {}
            cursor = pagination.get("endCursor") or ""
            more = bool(pagination.get("hasNextPage")) and bool(cursor)
            data = body["data"] if isinstance(body["data"], list) else [body["data"]]
            if more and cursor in used:
                empty_repeats = empty_repeats + 1 if not data else MAX_EMPTY_REPEATS
                if empty_repeats >= MAX_EMPTY_REPEATS:
                    raise VendorResponseError(
                        VENDOR,
                        f"pagination of {path} is stuck: endCursor {cursor[:40]!r} came back "
                        "again with hasNextPage=true",
                    )
            else:
                empty_repeats = 0
            used.add(cursor)
            yield data, cursor or (after or ""), more
            if not more:
                return
            after = cursor
        raise VendorResponseError(VENDOR, f"pagination of {path} did not end")

    def _all(self, model: type[T], path: str, params: dict[str, Any]) -> list[T]:
        return [item for data, _, _ in self.pages(path, params) for item in _parse(model, data)]

    def _feed(
        self, model: type[T], path: str, params: dict[str, Any], cursor: str | None
    ) -> Iterator[FeedPage[T]]:
        for data, end_cursor, more in self.pages(path, params, after=cursor):
            yield FeedPage(_parse(model, data), end_cursor, caught_up=not more)

    # ---- vehicles and drivers --------------------------------------------------------------
    def list_vehicles(self, *, updated_after: datetime | None = None) -> list[Vehicle]:
        params = {
            "limit": self.page_size,
            "updatedAfterTime": _rfc3339(updated_after) if updated_after else None,
        }
        return self._all(Vehicle, "/fleet/vehicles", params)

    def list_drivers(self, *, status: str = "active") -> list[Driver]:
        """Drivers with `driverActivationStatus=status` (Samsara omits deactivated by default)."""
        params = {"limit": self.page_size, "driverActivationStatus": status}
        return self._all(Driver, "/fleet/drivers", params)

    # ---- in-cab messages (legacy v1) -------------------------------------------------------
    def send_message(self, *, driver_ids: Sequence[int], text: str) -> list[tuple[int, str]]:
        """`POST /v1/fleet/messages`: the (driverId, text) pairs Samsara created. Retried only
        when the request provably never reached Samsara (a send is not idempotent)."""

        def once() -> Any:
            count_vendor_request(VENDOR)
            body = {"driverIds": list(driver_ids), "text": text}
            response = self.http.post("/v1/fleet/messages", json=body)
            if response.status_code >= 400:
                raise_for_status(VENDOR, response, _error_message(response))
            return json_body(VENDOR, response)

        data = with_retries(
            once,
            vendor=VENDOR,
            initial_wait=self.retry_wait,
            max_wait=self.max_retry_wait,
            retry_if=create_is_retryable,
        )
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise VendorResponseError(VENDOR, "message create answered without a data array")
        return [(int(m["driverId"]), str(m["text"])) for m in items if isinstance(m, dict)]

    def list_messages(self, *, end: datetime, duration_ms: int) -> list[FleetMessage]:
        """`GET /v1/fleet/messages`: messages sent in the `duration_ms` before `end`, newest
        first, both directions (`sender.type` dispatch or driver) with their read flag."""
        params = {"endMs": int(end.timestamp() * 1000), "durationMs": max(int(duration_ms), 1)}
        body = self.get("/v1/fleet/messages", params)
        data = body["data"] if isinstance(body["data"], list) else []
        return _parse(FleetMessage, data)

    # ---- locations -------------------------------------------------------------------------
    def vehicle_locations(
        self, *, vehicle_ids: Sequence[str] | None = None, at: datetime | None = None
    ) -> list[VehicleLocation]:
        params = {"vehicleIds": _csv(vehicle_ids), "time": _rfc3339(at) if at else None}
        return self._all(VehicleLocation, "/fleet/vehicles/locations", params)

    def location_feed(
        self, cursor: str | None = None, *, vehicle_ids: Sequence[str] | None = None
    ) -> Iterator[FeedPage[VehicleLocations]]:
        return self._feed(
            VehicleLocations,
            "/fleet/vehicles/locations/feed",
            {"vehicleIds": _csv(vehicle_ids)},
            cursor,
        )

    # ---- stats -----------------------------------------------------------------------------
    def vehicle_stats(
        self, types: Sequence[str], *, vehicle_ids: Sequence[str] | None = None
    ) -> list[VehicleStatsSnapshot]:
        """Snapshot of any number of stat types: split into calls of at most 3, merged by id."""
        if not types:
            raise ValueError("at least one stat type is required")
        merged: dict[str, dict[str, Any]] = {}
        for i in range(0, len(types), MAX_STAT_TYPES):
            params = {"types": _csv(types[i : i + MAX_STAT_TYPES]), "vehicleIds": _csv(vehicle_ids)}
            for data, _, _ in self.pages("/fleet/vehicles/stats", params):
                for item in data:
                    merged.setdefault(str(item.get("id")), {}).update(item)
        return _parse(VehicleStatsSnapshot, list(merged.values()))

    def stats_feed(
        self,
        types: Sequence[str],
        cursor: str | None = None,
        *,
        vehicle_ids: Sequence[str] | None = None,
    ) -> Iterator[FeedPage[VehicleStatsFeedItem]]:
        """Feed of up to 3 stat types (more need separate feeds, each with its own cursor)."""
        if not 1 <= len(types) <= MAX_STAT_TYPES:
            raise ValueError("a stats feed takes 1 to 3 types; split them into several feeds")
        params = {"types": _csv(types), "vehicleIds": _csv(vehicle_ids)}
        return self._feed(VehicleStatsFeedItem, "/fleet/vehicles/stats/feed", params, cursor)

    # ---- hours of service ------------------------------------------------------------------
    def hos_clocks(self, *, driver_ids: Sequence[str] | None = None) -> list[HosClock]:
        params = {"limit": self.page_size, "driverIds": _csv(driver_ids)}
        return self._all(HosClock, "/fleet/hos/clocks", params)

    def hos_logs(
        self, start: datetime, end: datetime, *, driver_ids: Sequence[str] | None = None
    ) -> list[DriverHosLogs]:
        params = {
            "startTime": _rfc3339(start),
            "endTime": _rfc3339(end),
            "driverIds": _csv(driver_ids),
        }
        return self._all(DriverHosLogs, "/fleet/hos/logs", params)

    def hos_violations(
        self, start: datetime, end: datetime, *, driver_ids: Sequence[str] | None = None
    ) -> list[HosViolation]:
        """Violations starting in [start, end], flattened (Samsara wraps them per element)."""
        params = {
            "startTime": _rfc3339(start),
            "endTime": _rfc3339(end),
            "driverIds": _csv(driver_ids),
        }
        out: list[HosViolation] = []
        for data, _, _ in self.pages("/fleet/hos/violations", params):
            for element in data:
                out.extend(_parse(HosViolation, element.get("violations") or []))
        return out

    # ---- safety ----------------------------------------------------------------------------
    def safety_events_stream(
        self,
        start: datetime,
        cursor: str | None = None,
        *,
        end: datetime | None = None,
        query_by: str = "updatedAtTime",
    ) -> Iterator[FeedPage[SafetyEvent]]:
        """`/safety-events/stream` (no `/fleet` prefix); open-ended (`end=None`) it is a feed."""
        params = {
            "startTime": _rfc3339(start),
            "endTime": _rfc3339(end) if end else None,
            "queryByTimeField": query_by,
            "includeAsset": "true",
            "includeDriver": "true",
        }
        return self._feed(SafetyEvent, "/safety-events/stream", params, cursor)

    def legacy_safety_events(
        self, start: datetime, end: datetime, *, vehicle_ids: Sequence[str] | None = None
    ) -> list[LegacySafetyEvent]:
        params = {
            "startTime": _rfc3339(start),
            "endTime": _rfc3339(end),
            "vehicleIds": _csv(vehicle_ids),
        }
        return self._all(LegacySafetyEvent, "/fleet/safety-events", params)


def _error_message(response: httpx.Response) -> str:
    """`HTTP 429: Rate limit exceeded (requestId 8916e1c1)` from Samsara's error body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    status = response.status_code
    if isinstance(body, dict) and body.get("message"):
        return f"HTTP {status}: {body['message']} (requestId {body.get('requestId', '?')})"
    return f"HTTP {status} from {response.request.method} {response.request.url.path}"


def _parse(model: type[T], items: list[Any]) -> list[T]:
    try:
        return [model.model_validate(item) for item in items]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise VendorResponseError(
            VENDOR, f"unexpected {model.__name__} shape at {where}: {first.get('msg')}"
        ) from None


def build_samsara_client(settings: Any, **options: Any) -> SamsaraClient:
    """A client for `settings.SAMSARA_BASE_URL` with the bearer token and a bounded timeout."""
    token = required_credential(settings, "SAMSARA_TOKEN", vendor="Samsara")
    http = build_http_client(
        settings.SAMSARA_BASE_URL,
        timeout=settings.VENDOR_TIMEOUT_SECONDS,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    options.setdefault("paced_rate", settings.SAMSARA_PACED_REQUESTS_PER_SECOND)
    return SamsaraClient(http, **options)
