"""Alerts: list, detail with the noise-control explanation, acknowledge / snooze / resolve,
bulk acknowledge, and `POST /alerts/evaluate` for scheduled evaluation passes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from helpers.time_utils import utc_now
from logic.alerts import actions, engine, outbox, queries
from logic.listing import as_utc
from models.alert import AlertDetail, AlertPublic, AlertsPage, AlertStatus, AlertType, Severity
from models.api_fields import ApiDateTime
from services.deps import AlertsEvaluateCaller, AlertsRead, AlertsWrite, ClientDep, SessionDep
from services.http.etag import PolledList
from services.openapi import error_responses
from services.pagination import PageDep, SearchQuery
from services.vendor_deps import SettingsDep

router = APIRouter(prefix="/alerts", tags=["alerts"])


@dataclass
class AlertClients:
    """Vendor clients an evaluation may use; None for each vendor that is not configured."""

    slack: Any | None
    weather: Any | None
    pcmiler: Any | None


def get_alert_clients(
    settings: SettingsDep,
) -> Iterator[AlertClients]:
    clients = AlertClients(*engine.build_clients(settings))
    try:
        yield clients
    finally:
        for vendor in (clients.weather, clients.pcmiler):
            if vendor is not None:
                vendor.close()


AlertClientsDep = Annotated[AlertClients, Depends(get_alert_clients)]


def alert_filters(
    status: Annotated[list[AlertStatus] | None, Query(description="repeatable")] = None,
    type: Annotated[list[AlertType] | None, Query(description="repeatable")] = None,
    severity: Annotated[list[Severity] | None, Query(description="repeatable")] = None,
    trip_id: int | None = None,
    driver_id: int | None = None,
    vehicle_id: int | None = None,
    since: Annotated[ApiDateTime | None, Query(description="last seen at or after; UTC")] = None,
    q: SearchQuery = None,
    terminal: Annotated[str | None, Query(max_length=100, description="trip's or driver's")] = None,
) -> queries.AlertFilters:
    return queries.AlertFilters(
        statuses=tuple(status or ()),
        types=tuple(type or ()),
        severities=tuple(severity or ()),
        trip_id=trip_id,
        driver_id=driver_id,
        vehicle_id=vehicle_id,
        since=as_utc(since),
        q=q,
        terminal=terminal,
    )


class SnoozeRequest(BaseModel):
    minutes: int = Field(default=60, ge=1, le=actions.MAX_SNOOZE_MINUTES)


class ResolveRequest(BaseModel):
    note: str | None = Field(default=None, max_length=200)


class BulkAckRequest(BaseModel):
    ids: list[int] = Field(min_length=1, max_length=actions.MAX_BULK)


class BulkAckResult(BaseModel):
    acknowledged: list[int]
    skipped: list[int]
    not_found: list[int]


def _deliver_later(background: BackgroundTasks, clients: AlertClients, session: Session) -> None:
    # The session dependency commits as soon as the endpoint returns (scope="function"), before
    # the response and its background tasks: the drain then sends just this request's rows.
    ids = outbox.queued_ids(session)
    if ids and clients.slack is not None:
        background.add_task(outbox.drain, clients.slack, ids=ids)


@router.get("", dependencies=[Depends(PolledList())])
def list_alerts(
    session: SessionDep,
    _: AlertsRead,
    page: PageDep,
    filters: Annotated[queries.AlertFilters, Depends(alert_filters)],
) -> AlertsPage:
    """Alerts, newest activity first; filter by status, type, severity, subject, terminal, text."""
    return queries.list_alerts(session, filters, page)


class EvaluationReport(BaseModel):
    """What one evaluation pass did; `filters` counts each noise-control outcome."""

    model_config = ConfigDict(extra="allow")

    now: datetime
    candidates: int
    by_type: dict[str, int]
    incomplete: dict[str, str]
    failed: dict[str, str]
    etas_computed: int
    etas_written: int
    legal_etas_written: int = 0
    filters: dict[str, int]
    timings_ms: dict[str, float]
    delivery: dict[str, Any] | None
    routing: dict[str, int] = {}


@router.post("/evaluate")
def evaluate_alerts(
    _: AlertsEvaluateCaller, clients: AlertClientsDep, deliver: bool = True
) -> EvaluationReport:
    """Run an evaluation pass now (ETAs, detectors, noise control), then deliver to Slack."""
    # Its own committed unit of work, so the drain that follows sees what the pass queued.
    result = engine.run_evaluation(
        slack=clients.slack if deliver else None,
        weather=clients.weather,
        pcmiler=clients.pcmiler,
    )
    return result.as_dict()


@router.post("/ack")
def bulk_acknowledge(
    body: BulkAckRequest,
    session: SessionDep,
    user: AlertsWrite,
    client: ClientDep,
    clients: AlertClientsDep,
    background: BackgroundTasks,
) -> BulkAckResult:
    """Acknowledge many alerts at once; resolved or already acknowledged ones are skipped."""
    result = actions.bulk_acknowledge(session, body.ids, user, utc_now(), client=client)
    _deliver_later(background, clients, session)
    return BulkAckResult(**result)


@router.get("/{alert_id}")
def get_alert(alert_id: int, session: SessionDep, _: AlertsRead) -> AlertDetail:
    """One alert with every noise-control decision (why it fired or was held) and deliveries."""
    return queries.alert_detail(session, alert_id)


@router.post("/{alert_id}/ack", responses=error_responses(409))
def acknowledge_alert(
    alert_id: int,
    session: SessionDep,
    user: AlertsWrite,
    client: ClientDep,
    clients: AlertClientsDep,
    background: BackgroundTasks,
) -> AlertPublic:
    """Acknowledge: stops escalation; the Slack message is updated."""
    alert = actions.get_alert(session, alert_id)
    actions.acknowledge(session, alert, user, utc_now(), client=client)
    _deliver_later(background, clients, session)
    return AlertPublic.model_validate(alert)


@router.post("/{alert_id}/snooze", responses=error_responses(409))
def snooze_alert(
    alert_id: int,
    body: SnoozeRequest,
    session: SessionDep,
    user: AlertsWrite,
    client: ClientDep,
    clients: AlertClientsDep,
    background: BackgroundTasks,
) -> AlertPublic:
    """Silence the alert for a while; it reopens if the condition persists afterwards."""
    alert = actions.get_alert(session, alert_id)
    actions.snooze(session, alert, user, utc_now(), minutes=body.minutes, client=client)
    _deliver_later(background, clients, session)
    return AlertPublic.model_validate(alert)


@router.post("/{alert_id}/resolve", responses=error_responses(409))
def resolve_alert(
    alert_id: int,
    body: ResolveRequest,
    session: SessionDep,
    user: AlertsWrite,
    client: ClientDep,
    clients: AlertClientsDep,
    background: BackgroundTasks,
) -> AlertPublic:
    """Resolve the alert; a re-detection within the rule's cooldown stays suppressed."""
    alert = actions.get_alert(session, alert_id)
    actions.resolve(session, alert, user, utc_now(), note=body.note, client=client)
    _deliver_later(background, clients, session)
    return AlertPublic.model_validate(alert)
