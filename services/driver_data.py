"""`/driver_data/{driver_id}`: everything a dispatcher or a call prompt needs about one driver,
and the original call endpoints `POST /driver_data/call-vapi` / `call-elevenlabs` (one call per
listed driver, each answered `placed | skipped | failed` with its reason; `placed` calls are
queued and dialed right after the commit — their status says how the dial went)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter

from helpers.errors import NotFound
from logic.auth.audit import ClientInfo
from logic.calls.placement import CallRequest, prepare_calls
from logic.fleet.driver_data import DriverData, driver_data
from models.alert import Alert
from models.call import CallProvider, DriverCallRequest, DriverCallResult, DriverCallsResponse
from models.call_agent_profile import CallAgentProfile
from models.user import User
from services.deps import CallsPlace, ClientDep, DriversRead, SessionDep
from services.vendor_deps import Dialing, DialingDep

router = APIRouter(prefix="/driver_data", tags=["drivers"])


@dataclass(frozen=True)
class Asker:
    """Who asks for the calls: the user they are placed by and the client the audit names."""

    user: User
    client: ClientInfo


def _call_drivers(
    provider: CallProvider,
    body: DriverCallRequest,
    session: SessionDep,
    asker: Asker,
    dialing: Dialing,
) -> DriverCallsResponse:
    """Queue one call per listed driver; the placed ones are dialed after the commit."""
    profile = None
    if body.agent_profile_id is not None:
        profile = session.get(CallAgentProfile, body.agent_profile_id)
        if profile is None or profile.provider != provider:
            raise NotFound(f"{provider} agent profile {body.agent_profile_id} not found")
    alert = session.get(Alert, body.alert_id) if body.alert_id is not None else None
    if body.alert_id is not None and alert is None:
        raise NotFound(f"alert {body.alert_id} not found")
    request = CallRequest(
        driver_id=0,  # one per listed driver
        purpose=body.purpose,
        provider=provider,
        agent_profile_id=profile.id if profile else None,
        alert_id=alert.id if alert else None,
        placed_by=asker.user,
        idempotency_key=body.idempotency_key,
        client=asker.client,
    )
    outcomes = prepare_calls(session, request, body.driver_ids, policy=dialing.policy)
    dialing.after_commit([o.call_id for o in outcomes if o.result == "placed" and o.call_id])
    results = [DriverCallResult(**o.__dict__) for o in outcomes]
    return DriverCallsResponse(
        placed=sum(r.result == "placed" for r in results),
        skipped=sum(r.result == "skipped" for r in results),
        failed=sum(r.result == "failed" for r in results),
        results=results,
    )


@router.post("/call-vapi")
def call_drivers_vapi(
    body: DriverCallRequest,
    session: SessionDep,
    user: CallsPlace,
    client: ClientDep,
    dialing: DialingDep,
) -> DriverCallsResponse:
    """Call each listed driver through VAPI; per driver: placed, skipped (reason) or failed."""
    asker = Asker(user, client)
    return _call_drivers(CallProvider.VAPI, body, session, asker, dialing)


@router.post("/call-elevenlabs")
def call_drivers_elevenlabs(
    body: DriverCallRequest,
    session: SessionDep,
    user: CallsPlace,
    client: ClientDep,
    dialing: DialingDep,
) -> DriverCallsResponse:
    """Call each listed driver through ElevenLabs; per driver: placed, skipped or failed."""
    asker = Asker(user, client)
    return _call_drivers(CallProvider.ELEVENLABS, body, session, asker, dialing)


@router.get("/{driver_id}")
def get_driver_data(driver_id: int, session: SessionDep, _: DriversRead) -> DriverData:
    """Profile, current trip and next stop, HOS clock, recent violations and safety events."""
    return driver_data(session, driver_id)
