"""Trimble PC*MILER Web Services client: truck road miles and drive time between coordinates.

Contract quirks: the raw API key goes in `Authorization` (no "Bearer"), stops are `lon,lat` pairs
joined by `;`, and every number in a Mileage report is a string (`"452.318"` miles, `"7:41"`
hours as h:mm[:ss]). Totals are the last report line's cumulative `T*` values, not a sum.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from config import Settings
from utils.http import (
    VendorJsonClient,
    VendorRejectedError,
    VendorResponseError,
    build_http_client,
    required_credential,
)

log = logging.getLogger(__name__)

VENDOR = "pcmiler"
ROUTE_REPORTS_PATH = "/Service.svc/route/routeReports"
MILEAGE_REPORT_TYPE = "MileageReport"


class PcmilerStopError(VendorRejectedError):
    """PC*MILER could not place a stop on its road network (reported at HTTP 200)."""


@dataclass(frozen=True)
class GeoPoint:
    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not -90 <= self.lat <= 90 or not -180 <= self.lon <= 180:
            raise ValueError(f"coordinates out of range: {self.lat},{self.lon}")

    def as_pcmiler_stop(self) -> str:
        return f"{self.lon:.6f},{self.lat:.6f}"


@dataclass(frozen=True)
class MileageLine:
    """One stop of a route: leg values from the previous stop, totals from the origin."""

    label: str
    city: str | None
    state: str | None
    lat: float | None
    lon: float | None
    leg_miles: float
    total_miles: float
    leg_minutes: float
    total_minutes: float


@dataclass(frozen=True)
class MileageReport:
    miles: float
    drive_minutes: float
    lines: tuple[MileageLine, ...]
    data_version: str
    traffic_used: bool

    @property
    def drive_hours(self) -> float:
        return round(self.drive_minutes / 60, 3)


def parse_miles(value: Any) -> float:
    """Miles arrive as strings ("452.318"); tolerate numbers and thousands separators."""
    if value is None or value == "":
        return 0.0
    try:
        return float(str(value).replace(",", ""))
    except ValueError:
        raise VendorResponseError(VENDOR, f"unparseable miles {value!r}") from None


def parse_hours(value: Any) -> float:
    """Drive time as minutes from "h:mm" or "h:mm:ss" (never a decimal number of hours)."""
    if value is None or value == "":
        return 0.0
    parts = str(value).strip().split(":")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise VendorResponseError(VENDOR, f"unparseable hours {value!r}") from None
    if len(numbers) == 2:
        return numbers[0] * 60 + numbers[1]
    if len(numbers) == 3:
        return numbers[0] * 60 + numbers[1] + numbers[2] / 60
    raise VendorResponseError(VENDOR, f"unparseable hours {value!r}")


def _coord(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


class PcmilerClient(VendorJsonClient):
    """Route reports over GET (coordinates only); every call is idempotent and retried."""

    vendor = VENDOR

    def __init__(
        self, http: httpx.Client, *, data_version: str = "Current", retry_wait: float = 0.5
    ) -> None:
        super().__init__(http, retry_wait=retry_wait)
        self._data_version = data_version

    def mileage(
        self,
        stops: Sequence[GeoPoint],
        *,
        vehicle_type: int = 0,
        routing: int = 0,
        hours_with_seconds: bool = False,
    ) -> MileageReport:
        """Practical truck route miles and drive time through `stops` (at least two)."""
        if len(stops) < 2:
            raise ValueError("a route needs at least two stops")
        params = {
            "stops": ";".join(stop.as_pcmiler_stop() for stop in stops),
            "reports": "Mileage",
            "vehType": str(vehicle_type),
            "routing": str(routing),
            "distUnits": "0",
            "dataVersion": self._data_version,
        }
        if hours_with_seconds:
            params["THoursWithSeconds"] = "true"
        body = self._call("GET", ROUTE_REPORTS_PATH, params=params)
        return self._parse_mileage(body)

    @staticmethod
    def _error_message(response: httpx.Response) -> str | None:
        """PC*MILER error bodies are not documented; `Message` is what the ASP.NET service sends."""
        if response.status_code < 400:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        if isinstance(body, dict) and body.get("Message"):
            return f"HTTP {response.status_code}: {body['Message']}"
        return None

    def _parse_mileage(self, body: Any) -> MileageReport:
        if not isinstance(body, list):
            raise VendorResponseError(VENDOR, "route reports are not a JSON array")
        report = next(
            (
                r
                for r in body
                if isinstance(r, dict) and str(r.get("__type", "")).startswith(MILEAGE_REPORT_TYPE)
            ),
            None,
        )
        if report is None or not isinstance(report.get("ReportLines"), list):
            raise VendorResponseError(VENDOR, "no Mileage report in the response")
        lines: list[MileageLine] = []
        errors: list[str] = []
        for raw in report["ReportLines"]:
            stop = raw.get("Stop") or {}
            address = stop.get("Address") or {}
            coords = stop.get("Coords") or {}
            for error in stop.get("Errors") or []:
                errors.append(str(error.get("Description") or error.get("Code") or error))
            lines.append(
                MileageLine(
                    label=str(stop.get("Label") or ""),
                    city=address.get("City"),
                    state=address.get("State"),
                    lat=_coord(coords.get("Lat")),
                    lon=_coord(coords.get("Lon")),
                    leg_miles=parse_miles(raw.get("LMiles")),
                    total_miles=parse_miles(raw.get("TMiles")),
                    leg_minutes=parse_hours(raw.get("LHours")),
                    total_minutes=parse_hours(raw.get("THours")),
                )
            )
        if errors:
            raise PcmilerStopError(VENDOR, "; ".join(errors), status=200)
        if len(lines) < 2:
            raise VendorResponseError(VENDOR, "Mileage report has fewer than two stops")
        last = lines[-1]
        return MileageReport(
            miles=last.total_miles,
            drive_minutes=last.total_minutes,
            lines=tuple(lines),
            data_version=self._data_version,
            traffic_used=bool(report.get("TrafficDataUsed")),
        )


def build_pcmiler_client(settings: Settings, *, retry_wait: float = 0.5) -> PcmilerClient:
    """A client for `settings.PCMILER_BASE_URL`; refuses to build without `PCMILER_API_KEY`."""
    key = required_credential(settings, "PCMILER_API_KEY", vendor="PC*MILER")
    http = build_http_client(
        settings.PCMILER_BASE_URL,
        timeout=settings.VENDOR_TIMEOUT_SECONDS,
        headers={"Authorization": key, "Accept": "application/json"},
    )
    return PcmilerClient(http, data_version=settings.PCMILER_DATA_VERSION, retry_wait=retry_wait)
