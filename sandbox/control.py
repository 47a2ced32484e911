"""`/_sandbox` control API: arm faults, read recorded requests, move the clock, resize the fleet,
make a truck's load late."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field, model_validator

from sandbox import delays
from sandbox.state import sandbox_state

router = APIRouter(prefix="/_sandbox", tags=["sandbox control"])


class FaultIn(BaseModel):
    vendor: str
    kind: str
    count: int = Field(default=1, ge=1)
    retry_after: float = 0.25
    delay: float = 1.0
    status: int = 503


class ClockIn(BaseModel):
    now: datetime | None = None
    advance_seconds: float | None = None
    unfreeze: bool = False


class FleetIn(BaseModel):
    seed: int | None = None
    trucks: int | None = Field(default=None, ge=1, le=5000)
    history_hours: float | None = Field(default=None, ge=0, le=24 * 60)
    start: datetime | None = None


class DelayIn(BaseModel):
    load_number: str | None = Field(default=None, description="Ditat shipmentId, the hub's load")
    vehicle_id: str | None = Field(default=None, description="Samsara vehicle id")
    minutes: int = Field(default=180, ge=1, le=480)

    @model_validator(mode="after")
    def one_key(self) -> DelayIn:
        if (self.load_number is None) == (self.vehicle_id is None):
            raise ValueError("give exactly one of load_number and vehicle_id")
        return self


@router.post("/faults", status_code=201)
def add_fault(body: FaultIn, request: Request) -> dict:
    """Arm a fault for the next `count` requests to a vendor."""
    try:
        fault = sandbox_state(request).faults.add(
            body.vendor,
            body.kind,
            body.count,
            retry_after=body.retry_after,
            delay=body.delay,
            status=body.status,
        )
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return {"vendor": fault.vendor, "kind": fault.kind, "remaining": fault.remaining}


@router.get("/faults")
def list_faults(request: Request) -> list[dict]:
    """Faults still armed."""
    return sandbox_state(request).faults.list()


@router.delete("/faults", status_code=204)
def clear_faults(request: Request) -> None:
    """Disarm every fault."""
    sandbox_state(request).faults.clear()


@router.get("/requests")
def list_requests(request: Request, vendor: str | None = None, limit: int | None = None) -> list:
    """Recorded vendor requests, oldest first (optionally one vendor, the last `limit`)."""
    return sandbox_state(request).recorder.list(vendor, limit)


@router.delete("/requests", status_code=204)
def clear_requests(request: Request) -> None:
    """Forget recorded requests."""
    sandbox_state(request).recorder.clear()


@router.post("/reset", status_code=204)
def reset(request: Request) -> None:
    """Clear faults, recorded requests and the fakes' stored state."""
    sandbox_state(request).reset()


@router.get("/clock")
def get_clock(request: Request) -> dict:
    """The sandbox's current time."""
    return sandbox_state(request).clock.describe()


@router.post("/clock")
def set_clock(body: ClockIn, request: Request) -> dict:
    """Freeze the clock at `now` (re-anchoring the fleet there), move it, or return to wall time."""
    state = sandbox_state(request)
    clock = state.clock
    if body.unfreeze:
        clock.unfreeze()
    if body.now is not None:
        state.freeze_clock(body.now)
    if body.advance_seconds:
        clock.advance(body.advance_seconds)
    return clock.describe()


@router.get("/fleet")
def get_fleet(request: Request) -> dict:
    """Seed, size and time span of the simulated fleet."""
    state = sandbox_state(request)
    sim = state.simulator
    return {
        "seed": sim.seed,
        "trucks": sim.size,
        "start": sim.start.isoformat(),
        "history_hours": sim.history_hours,
        "history_start": sim.history_start.isoformat(),
        "location_interval_s": sim.location_interval_s,
        "vehicles": [
            {
                "samsara_id": v.samsara_id,
                "unit": v.unit,
                "driver_samsara_id": v.driver.samsara_id,
                "driver_ditat_id": v.driver.ditat_id,
                "phone": v.driver.phone,
            }
            for v in sim.vehicles
        ],
        "delays": [_delay_json(d) for d in sim.delays],
    }


@router.post("/fleet")
def rebuild_fleet(body: FleetIn, request: Request) -> dict:
    """Regenerate the fleet (seed, size, history hours, start time)."""
    sandbox_state(request).rebuild_fleet(
        seed=body.seed, trucks=body.trucks, history_hours=body.history_hours, start=body.start
    )
    return get_fleet(request)


@router.post("/fleet/delay")
def delay_load(body: DelayIn, request: Request) -> dict:
    """Make a truck's load late: hold the truck `minutes` from `minutes` ago (sandbox/delays.py)."""
    sim = sandbox_state(request).simulator
    if body.load_number is not None:
        trip = sim.trip_by_shipment(body.load_number)
        if trip is None:
            raise HTTPException(404, f"no load {body.load_number}")
        vehicle = trip.vehicle
        under_way = delays.load_under_way(sim, vehicle, sim.now())
        if under_way is not trip:
            raise HTTPException(409, f"load {body.load_number} is not under way (no stop ahead)")
    else:
        vehicle = sim.vehicle(body.vehicle_id or "")
        if vehicle is None:
            raise HTTPException(404, f"no vehicle {body.vehicle_id}")
    try:
        delay, trip = delays.delay_truck(sim, vehicle, body.minutes)
    except delays.NoLoadUnderWay as exc:
        raise HTTPException(409, str(exc)) from None
    now = sim.now()
    ahead = next(s for s in trip.stops if s.arrived_at > now)
    late = (ahead.arrived_at - ahead.appointment_to).total_seconds() // 60
    return {
        **_delay_json(delay),
        "load_number": trip.shipment_id,
        "unit": vehicle.unit,
        "next_stop": {
            "sequence": ahead.sequence,
            "city": f"{ahead.city.name}, {ahead.city.state}",
            "window_end": ahead.appointment_to.isoformat(),
            "arrival": ahead.arrived_at.isoformat(),
            "late_minutes": max(int(late), 0),
        },
    }


def _delay_json(delay: delays.Delay) -> dict:
    return {
        "vehicle_id": delay.vehicle_id,
        "held_from": datetime.fromtimestamp(delay.at, UTC).isoformat(),
        "minutes": round(delay.seconds / 60),
    }
