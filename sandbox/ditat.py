"""Sandbox imitation of the Ditat TMS API (low-confidence contract: third-party clients only).

Login with Basic auth + `Ditat-Account-Id` + `Ditat-Application-Role` returns a raw-text token
(every other login as a quoted JSON string, to exercise tolerant clients); data calls need
`Authorization: Ditat-Token <token>` (any case), `?ditat-token=`, or a Bearer token from the
OAuth2 client-credentials endpoint. Envelopes are `{data, error}`; asking for documents or notes
answers HTTP 200 with `error.code = 900`; trailer rows and the dispatch board use PascalCase keys.
"""

from __future__ import annotations

import base64
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from sandbox import credentials as cred
from sandbox.simulator import Simulator, Stop, Trip
from sandbox.state import SandboxState, sandbox_state

router = APIRouter(prefix="/ditat", tags=["ditat"])

LOOKUP_ENTITIES = ("drivers", "trucks", "trailers", "shipments")


class _Tokens:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.valid: set[str] = set()
        self.logins = 0


def init_state(state: SandboxState) -> None:
    # Issued tokens survive `/_sandbox/reset`; the `expire_token` fault is how tests expire one.
    state.ditat_tokens = _Tokens()


def _tokens(request: Request) -> _Tokens:
    return sandbox_state(request).ditat_tokens


def _envelope(data: Any, error: dict[str, Any] | None = None, status: int = 200) -> JSONResponse:
    return JSONResponse({"data": data, "error": error}, status_code=status)


def _unauthorized(message: str = "Invalid or expired session token") -> JSONResponse:
    return _envelope(None, {"code": 401, "message": message}, status=401)


def _authorized(request: Request) -> bool:
    tokens = _tokens(request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in ("ditat-token", "bearer"):
        token = request.query_params.get("ditat-token", "")
    with tokens.lock:
        return bool(token) and token.strip() in tokens.valid


def _issue(request: Request) -> str:
    tokens = _tokens(request)
    token = secrets.token_hex(16)
    with tokens.lock:
        tokens.valid.add(token)
        tokens.logins += 1
    return token


@router.post("/api/tms/auth/login")
async def login(request: Request):
    """Session login: Basic credentials + account id + application role → raw-text token."""
    expected = base64.b64encode(f"{cred.DITAT_USERNAME}:{cred.DITAT_PASSWORD}".encode()).decode()
    headers = request.headers
    if (
        headers.get("authorization") != f"Basic {expected}"
        or headers.get("ditat-account-id") != cred.DITAT_ACCOUNT_ID
        or headers.get("ditat-application-role") != cred.DITAT_APPLICATION_ROLE
    ):
        return _unauthorized("Invalid credentials, account or application role")
    token = _issue(request)
    quoted = _tokens(request).logins % 2 == 0
    return PlainTextResponse(f'"{token}"\n' if quoted else f"{token}\n")


@router.post("/identity-provider/{account_id}/connect/token")
def oauth_token(
    request: Request,
    account_id: str,
    grant_type: str = Form(...),
    client_id: str = Form(...),
    client_secret: str = Form(...),
):
    """OAuth2 client-credentials token (the newer Ditat auth mode)."""
    if (
        account_id != cred.DITAT_ACCOUNT_ID
        or grant_type != "client_credentials"
        or client_id != cred.DITAT_CLIENT_ID
        or client_secret != cred.DITAT_CLIENT_SECRET
    ):
        return JSONResponse({"error": "invalid_client"}, status_code=400)
    return {"access_token": _issue(request), "expires_in": 3600, "token_type": "Bearer"}


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if dt else None


def _driver_row(sim: Simulator, index: int) -> dict[str, Any]:
    d = sim.drivers[index]
    vehicle = sim.vehicle_for_driver(d)
    return {
        "driverId": d.ditat_id,
        "status": "Active" if d.active else "Terminated",
        "firstName": d.first_name,
        "lastName": d.last_name,
        "truckId": vehicle.unit if vehicle else None,
        "phoneNumber": d.phone[2:5] + "-" + d.phone[5:8] + "-" + d.phone[8:],
        "emailAddress": d.email,
        "hiredOn": _iso(sim.start - timedelta(days=300 + index)),
        "updatedOn": _iso(sim.start - timedelta(days=1, minutes=index)),
        "companyId": "SANDBOX",
    }


def _truck_row(sim: Simulator, index: int) -> dict[str, Any]:
    v = sim.vehicles[index]
    return {
        "truckId": v.unit,
        "truckKey": v.truck_key,
        "vin": v.vin,
        "make": v.make,
        "model": v.model,
        "year": int(v.year),
        "licensePlate": v.plate,
        "licenseState": v.plate_state,
        "status": "Active",
        "isActive": True,
        "primaryDriverId": v.driver.ditat_id,
        "trailerId": v.trailer.trailer_id,
        "updatedOn": _iso(sim.start - timedelta(days=2, minutes=index)),
    }


def _trailer_row(sim: Simulator, index: int) -> dict[str, Any]:
    t = sim.trailers[index]
    # PascalCase on purpose: one known client reads `IsActive` from the unit exports.
    return {
        "TrailerId": t.trailer_id,
        "TrailerKey": t.trailer_key,
        "TrailerType": t.kind,
        "LicensePlate": t.plate,
        "Year": int(t.year),
        "IsActive": True,
        "TruckId": sim.vehicles[index].unit,
    }


def _address(stop: Stop) -> dict[str, Any]:
    c = stop.city
    return {
        "address1": c.address,
        "municipality": c.name,
        "administrativeArea": c.state,
        "postalCode": c.zip,
        "latitude": c.lat,
        "longitude": c.lon,
    }


def _terminal(trip: Trip) -> str:
    """The dispatching terminal: the driver's home city (Samsara's `homeTerminalName` too)."""
    return trip.vehicle.driver.home.name


def _shipment_row(trip: Trip, now: datetime) -> dict[str, Any]:
    pickup, delivery = trip.stops
    return {
        "shipmentId": trip.shipment_id,
        "shipmentKey": trip.shipment_key,
        "status": trip.status_at(now),
        "customer": trip.customer,
        "terminal": _terminal(trip),
        "truckId": trip.vehicle.unit,
        "primaryDriverId": trip.vehicle.driver.ditat_id,
        "trailerId": trip.vehicle.trailer.trailer_id,
        "originCity": pickup.city.name,
        "originState": pickup.city.state,
        "destinationCity": delivery.city.name,
        "destinationState": delivery.city.state,
        "pickupAppointmentFrom": _iso(pickup.appointment_from),
        "deliveryAppointmentTo": _iso(delivery.appointment_to),
        "updatedOn": _iso(min(now, pickup.arrived_at)),
    }


def _stop_json(stop: Stop, now: datetime) -> dict[str, Any]:
    c = stop.city
    return {
        "stopKey": stop.stop_key,
        "sequence": stop.sequence,
        "stopType": stop.stop_type,
        "name": f"{c.name} {'shipper' if stop.stop_type == 'Pickup' else 'receiver'}",
        "address1": c.address,
        "city": c.name,
        "state": c.state,
        "zip": c.zip,
        "latitude": c.lat,
        "longitude": c.lon,
        "appointmentFrom": _iso(stop.appointment_from),
        "appointmentTo": _iso(stop.appointment_to),
        "arrivedOn": _iso(stop.arrived_at) if stop.arrived_at <= now else None,
        "departedOn": _iso(stop.departed_at) if stop.departed_at <= now else None,
    }


def _rows(sim: Simulator, entity: str, now: datetime) -> list[dict[str, Any]]:
    if entity == "drivers":
        return [_driver_row(sim, i) for i in range(len(sim.drivers))]
    if entity == "trucks":
        return [_truck_row(sim, i) for i in range(len(sim.vehicles))]
    if entity == "trailers":
        return [_trailer_row(sim, i) for i in range(len(sim.trailers))]
    window = sim.trips(now - timedelta(days=3), now + timedelta(days=2))
    return [_shipment_row(t, now) for t in window]


def _matches(row: dict[str, Any], item: dict[str, Any]) -> bool:
    lowered = {k.lower(): v for k, v in row.items()}
    column = str(item.get("columnName") or "").lower()
    value = item.get("filterFromValue")
    if value in (None, "") or column not in lowered:
        return True
    if str(item.get("filterType")).lower() == "after":
        return str(lowered[column] or "") > str(value)
    return str(lowered[column]) == str(value)


@router.post("/api/tms/lookup/{entity}")
async def lookup(request: Request, entity: str):
    """Generic lookup with filters and pageNumber/pageSize paging."""
    if not _authorized(request):
        return _unauthorized()
    if entity not in LOOKUP_ENTITIES:
        return _envelope(None, {"code": 404, "message": f"Unknown lookup {entity}"}, status=404)
    body = await request.json() if await request.body() else {}
    sim = sandbox_state(request).simulator
    rows = _rows(sim, entity, sim.now())
    for item in body.get("filterItems") or body.get("filters") or []:
        rows = [r for r in rows if _matches(r, item)]
    page_number = max(1, int(body.get("pageNumber") or 1))
    page_size = max(1, min(int(body.get("pageSize") or 1000), 1000))
    page = rows[(page_number - 1) * page_size : page_number * page_size]
    data: dict[str, Any] = {"data": page}
    if body.get("includeTotalCount"):
        data["totalCount"] = len(rows)
    return _envelope(data)


@router.post("/api/tms/dispatch-board")
async def dispatch_board(request: Request):
    """Trips on the dispatch board: the last day's, the current and the next planned loads."""
    if not _authorized(request):
        return _unauthorized()
    sim = sandbox_state(request).simulator
    now = sim.now()
    trips = []
    for trip in sim.trips(now - timedelta(days=1), now + timedelta(days=1)):
        pickup, delivery = trip.stops
        trips.append(
            {
                "tripKey": trip.trip_key,
                "tripId": trip.trip_id,
                "shipmentId": trip.shipment_id,
                "status": trip.status_at(now),
                "customer": trip.customer,
                "terminal": _terminal(trip),
                "truckId": trip.vehicle.unit,
                "primaryDriverId": trip.vehicle.driver.ditat_id,
                "trailerId": trip.vehicle.trailer.trailer_id,
                "fromAddress": _address(pickup),
                "toAddress": _address(delivery),
                "scheduledPickupFrom": _iso(pickup.appointment_from),
                "scheduledDeliveryTo": _iso(delivery.appointment_to),
                "loadedMiles": trip.miles,
                "stops": [_stop_json(s, now) for s in trip.stops],
            }
        )
    # PascalCase envelope here: clients must read keys case-insensitively.
    return JSONResponse({"Data": {"trips": trips, "UpdateCounter": len(trips)}, "Error": None})


@router.get("/api/tms/data/{entity}")
def entity_detail(
    request: Request,
    entity: str,
    id: str | None = None,
    key: str | None = None,
    includeEntityGraph: bool = True,
    includeDocuments: bool = False,
    includeNotes: bool = False,
):
    """Entity detail by business id or internal key (shipment detail carries its stops)."""
    if not _authorized(request):
        return _unauthorized()
    if includeDocuments or includeNotes:
        # Ditat answers HTTP 200 with an error when the API role may not read documents/notes.
        return _envelope(
            None,
            {
                "code": 900,
                "message": "User does not have permission to view documents/notes for this entity",
            },
        )
    sim = sandbox_state(request).simulator
    now = sim.now()
    ident = id or key or ""
    graph: dict[str, Any] | None = None
    if entity == "shipment":
        trip = sim.trip_by_shipment(ident)
        if trip:
            graph = {
                **_shipment_row(trip, now),
                "bolNumber": f"BOL{trip.shipment_key}",
                "loadId": trip.trip_id,
                "tripKey": trip.trip_key,
                "dspShipmentStops": [_stop_json(s, now) for s in trip.stops],
                "dspShipmentItems": [
                    {"commodity": trip.commodity, "weight": trip.weight_lbs, "pieces": trip.pieces}
                ],
                "rnpShipmentRevenues": [{"amount": trip.revenue}],
            }
    elif entity in ("truck", "driver", "trailer"):
        rows = _rows(sim, entity + "s", now)
        id_key, key_key = f"{entity}id", f"{entity}key"
        for row in rows:
            lowered = {k.lower(): v for k, v in row.items()}
            if ident in (str(lowered.get(id_key)), str(lowered.get(key_key))):
                graph = row
    if graph is None:
        return _envelope(None, {"code": 404, "message": f"{entity} {ident} not found"})
    return _envelope({"entityGraph": graph, "documents": [], "notes": []})
