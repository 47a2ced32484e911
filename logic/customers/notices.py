"""The customer notice pass: what each load's customer contacts should be told now, queued as
outbox rows (one per notice and contact) for `notice_outbox` to email.

Set-based over every trip with a customer: four statements find the events of the whole fleet
(arrivals, departures with the final one as "delivered", detention started, ETA moves), one reads
the contacts of the customers concerned, one inserts the rows. An event is told once
(`dedupe_key`, unique per contact); an arrival, departure or detention is news only within
`CUSTOMER_NOTICE_MAX_AGE_MINUTES` of happening, so a first run or a long outage does not mail
yesterday's stops. An ETA notice goes out when the ETA is past the stop's window and nothing was
told yet, or moved by `CUSTOMER_NOTICE_ETA_SHIFT_MINUTES` or more since the last ETA told, at most
once per stop per `CUSTOMER_NOTICE_DEBOUNCE_MINUTES`; "Notify customer" (`notify_eta_now`) tells
the current ETA at once, debounce or not. Passes are serialized (a transaction advisory lock on
PostgreSQL; SQLite's one writer), so two instances never decide the same notice twice.

What a notice may say is chosen here and nothing else reaches it: load number, stop name and
place, window, ETA and its basis, times, free time and the billable clock — never the driver,
their phone, HOS detail or coordinates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased
from sqlmodel import Session

from config import Settings
from logic.trips.sharing import legal_eta, stop_zone
from models.customer import CustomerContact, NoticeKind
from models.customer_notice import CustomerNotice
from models.report import ReportRecipients
from models.stop_visit import StopVisit
from models.trip import (
    ACTIVE_TRIP_STATUSES,
    StopStatus,
    Trip,
    TripStatus,
    TripStop,
    next_stop_sequences,
)

# An arbitrary constant shared by every instance: "the customer notice pass".
_ADVISORY_LOCK_KEY = 7_040_427

_ACTIVE = [s.value for s in ACTIVE_TRIP_STATUSES]


@dataclass(frozen=True)
class Event:
    """Something one load's customer should hear, with the facts the notice tells."""

    trip_id: int
    stop_id: int
    customer_id: int
    kind: NoticeKind
    dedupe_key: str
    facts: dict[str, Any]
    eta: datetime | None = None


@dataclass
class NoticePassResult:
    events: dict[str, int] = field(default_factory=dict)
    queued: int = 0
    queued_ids: list[int] = field(default_factory=list, repr=False)
    timings_ms: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"events": self.events, "queued": self.queued, "timings_ms": self.timings_ms}


def _in_scope(now: datetime, max_age: timedelta) -> Any:
    """Trips whose customer may hear of them: under way, or delivered within the max age."""
    return and_(
        Trip.customer_id.is_not(None),
        or_(
            Trip.status.in_(_ACTIVE),
            and_(Trip.status == TripStatus.DELIVERED.value, Trip.updated_at >= now - max_age),
        ),
    )


def _columns(stop: Any = TripStop) -> tuple[Any, ...]:
    return (
        Trip.id.label("trip_id"),
        Trip.customer_id,
        Trip.load_number,
        Trip.terminal,
        stop.id.label("stop_id"),
        stop.sequence,
        stop.stop_type,
        stop.name.label("stop_name"),
        stop.city,
        stop.state,
        stop.appointment_start,
        stop.appointment_end,
    )


def _told(kinds: list[str], stop: Any = TripStop) -> Any:
    return exists().where(CustomerNotice.stop_id == stop.id, CustomerNotice.kind.in_(kinds))


def _facts(row: Any, zones: dict[str, str], **extra: Any) -> dict[str, Any]:
    """The notice's facts, datetimes as ISO text (JSON), in the stop's zone when shown."""
    facts = {
        "load_number": row.load_number,
        "stop_sequence": row.sequence,
        "stop_type": row.stop_type,
        "stop_name": row.stop_name,
        "city": row.city,
        "state": row.state,
        "window_start": row.appointment_start,
        "window_end": row.appointment_end,
        "zone": stop_zone(row.state, zones.get(row.terminal or "")),
        **extra,
    }
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in facts.items()}


def _arrivals(session: Session, scope: Any, since: datetime, now: datetime, zones) -> list[Event]:
    arrived = func.coalesce(TripStop.visit_arrived_at, TripStop.arrived_at)
    rows = session.execute(
        select(*_columns(), arrived.label("at"))
        .join(Trip, Trip.id == TripStop.trip_id)
        .where(scope, TripStop.status != StopStatus.SKIPPED.value)
        .where(arrived >= since, arrived <= now, ~_told([NoticeKind.ARRIVED.value]))
    ).all()
    return [
        Event(
            r.trip_id,
            r.stop_id,
            r.customer_id,
            NoticeKind.ARRIVED,
            f"arrived:{r.stop_id}",
            _facts(r, zones, at=r.at),
        )
        for r in rows
    ]


def _departures(session: Session, scope: Any, since: datetime, now: datetime, zones) -> list[Event]:
    """Departures; leaving the last stop is the delivery, told as `delivered` instead."""
    departed = func.coalesce(TripStop.visit_departed_at, TripStop.departed_at)
    later = aliased(TripStop)
    is_last = ~exists().where(later.trip_id == TripStop.trip_id, later.sequence > TripStop.sequence)
    told = _told([NoticeKind.DEPARTED.value, NoticeKind.DELIVERED.value])
    rows = session.execute(
        select(*_columns(), departed.label("at"), is_last.label("is_last"))
        .join(Trip, Trip.id == TripStop.trip_id)
        .where(scope, TripStop.status != StopStatus.SKIPPED.value)
        .where(departed >= since, departed <= now, ~told)
    ).all()
    out = []
    for r in rows:
        kind = NoticeKind.DELIVERED if r.is_last else NoticeKind.DEPARTED
        facts = _facts(r, zones, at=r.at)
        out.append(Event(r.trip_id, r.stop_id, r.customer_id, kind, f"{kind}:{r.stop_id}", facts))
    return out


def _detentions(session: Session, scope: Any, since: datetime, now: datetime, zones) -> list[Event]:
    """Stops where the truck is still held and the billable clock started within the max age."""
    held = (
        select(
            StopVisit.stop_id,
            func.min(StopVisit.arrived_at).label("arrived_at"),
            func.min(StopVisit.billable_from).label("billable_from"),
            func.max(StopVisit.free_minutes).label("free_minutes"),
        )
        .where(StopVisit.departed_at.is_(None), StopVisit.billable_from.is_not(None))
        .where(StopVisit.billable_from >= since, StopVisit.billable_from <= now)
        .group_by(StopVisit.stop_id)
        .subquery()
    )
    rows = session.execute(
        select(*_columns(), held.c.arrived_at, held.c.billable_from, held.c.free_minutes)
        .select_from(held)
        .join(TripStop, TripStop.id == held.c.stop_id)
        .join(Trip, Trip.id == TripStop.trip_id)
        .where(scope, ~_told([NoticeKind.DETENTION.value]))
    ).all()
    return [
        Event(
            r.trip_id,
            r.stop_id,
            r.customer_id,
            NoticeKind.DETENTION,
            f"detention:{r.stop_id}",
            _facts(
                r,
                zones,
                at=r.arrived_at,
                billable_from=r.billable_from,
                free_minutes=r.free_minutes,
            ),
        )
        for r in rows
    ]


def _next_stops(extra: Any) -> Any:
    """Active trips with a customer and their next stop, ETA columns and what the last ETA
    notice of that stop told (correlated: evaluated only for rows `extra` keeps)."""
    in_scope = (Trip.customer_id.is_not(None), Trip.status.in_(_ACTIVE))
    next_seq = next_stop_sequences(*in_scope)
    stop = aliased(TripStop)
    last = and_(CustomerNotice.stop_id == stop.id, CustomerNotice.kind == NoticeKind.ETA.value)
    last_at = select(func.max(CustomerNotice.created_at)).where(last).scalar_subquery()
    last_eta = (
        select(CustomerNotice.eta).where(last).order_by(CustomerNotice.id.desc()).limit(1)
    ).scalar_subquery()
    return (
        select(
            *_columns(stop),
            stop.eta.label("stop_eta"),
            Trip.eta_next_stop,
            Trip.eta_next_stop_legal,
            Trip.hos_binding_clock,
            last_at.label("last_at"),
            last_eta.label("last_eta"),
        )
        .select_from(Trip)
        .join(next_seq, next_seq.c.trip_id == Trip.id)
        .join(stop, and_(stop.trip_id == Trip.id, stop.sequence == next_seq.c.seq))
        .where(*in_scope, extra(stop))
    )


def _eta_event(row: Any, zones, *, requested: bool = False) -> Event | None:
    eta, basis, _ = legal_eta(
        row.eta_next_stop or row.stop_eta, row.eta_next_stop_legal, row.hos_binding_clock
    )
    if eta is None:
        return None
    window_end = row.appointment_end or row.appointment_start
    late = max(int((eta - window_end).total_seconds() // 60), 0) if window_end else 0
    facts = _facts(row, zones, eta=eta, eta_basis=basis, late_minutes=late or None)
    key = f"eta:{row.stop_id}:{int(eta.timestamp())}" + (":now" if requested else "")
    return Event(row.trip_id, row.stop_id, row.customer_id, NoticeKind.ETA, key, facts, eta)


def _eta_moves(session: Session, now: datetime, settings: Settings, zones) -> list[Event]:
    """ETA notices due: past the window with nothing told, or moved by the shift since the last
    one told, and no ETA notice of that stop within the debounce."""
    shift = timedelta(minutes=settings.CUSTOMER_NOTICE_ETA_SHIFT_MINUTES)
    debounce = timedelta(minutes=settings.CUSTOMER_NOTICE_DEBOUNCE_MINUTES)

    def candidates(stop: Any) -> Any:
        # The ETA told is the later of the legal and the driving one (`legal_eta`), and the two
        # are computed apart (a legal plan from an older position can be the earlier): the stop
        # is late when either is past its window.
        window_end = func.coalesce(stop.appointment_end, stop.appointment_start)
        driving = func.coalesce(Trip.eta_next_stop, stop.eta)
        return or_(
            Trip.eta_next_stop_legal > window_end,
            driving > window_end,
            _told([NoticeKind.ETA.value], stop),
        )

    stmt = _next_stops(candidates)
    out = []
    for row in session.execute(stmt).all():
        event = _eta_event(row, zones)
        if event is None or (row.last_at is not None and row.last_at > now - debounce):
            continue
        if row.last_eta is None:
            window_end = row.appointment_end or row.appointment_start
            due = window_end is not None and event.eta > window_end
        else:
            due = abs(event.eta - row.last_eta) >= shift
        if due:
            out.append(event)
    return out


def terminal_zones(session: Session) -> dict[str, str]:
    return {r.terminal: r.timezone for r in ReportRecipients.all(session)}


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})


def notice_pass(session: Session, *, now: datetime, settings: Settings) -> NoticePassResult:
    """Find every notice due now and queue one row per wanting contact (flushed, not sent)."""
    _lock(session)
    result = NoticePassResult()
    max_age = timedelta(minutes=settings.CUSTOMER_NOTICE_MAX_AGE_MINUTES)
    since = now - max_age
    scope = _in_scope(now, max_age)
    zones = terminal_zones(session)
    events: list[Event] = []
    for name, find in (
        ("arrivals", lambda: _arrivals(session, scope, since, now, zones)),
        ("departures", lambda: _departures(session, scope, since, now, zones)),
        ("detention", lambda: _detentions(session, scope, since, now, zones)),
        ("eta", lambda: _eta_moves(session, now, settings, zones)),
    ):
        started = time.perf_counter()
        events += find()
        result.timings_ms[name] = round((time.perf_counter() - started) * 1000, 1)
    for event in events:
        result.events[event.kind] = result.events.get(event.kind, 0) + 1
    started = time.perf_counter()
    result.queued_ids = queue(session, events, now=now)
    result.queued = len(result.queued_ids)
    result.timings_ms["queue"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def queue(
    session: Session, events: list[Event], *, now: datetime, requested_by: str = "pass"
) -> list[int]:
    """One row per event and contact who wants its kind; an event a contact was already told
    of is skipped (ON CONFLICT DO NOTHING). Returns the new rows' ids."""
    if not events:
        return []
    customer_ids = sorted({e.customer_id for e in events})
    contacts: dict[int, list[CustomerContact]] = {}
    for contact in session.scalars(
        select(CustomerContact).where(CustomerContact.customer_id.in_(customer_ids))
    ):
        contacts.setdefault(contact.customer_id, []).append(contact)
    values = [
        {
            "trip_id": e.trip_id,
            "stop_id": e.stop_id,
            "customer_id": e.customer_id,
            "contact_id": c.id,
            "kind": e.kind.value,
            "dedupe_key": e.dedupe_key,
            "email": c.email,
            "eta": e.eta,
            "requested_by": requested_by[:80],
            "facts": e.facts,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for e in events
        for c in contacts.get(e.customer_id, [])
        if e.kind.value in (c.notices or [])
    ]
    if not values:
        return []
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # On the table, not the entity: Core's executemany skips the ORM bulk-insert bookkeeping
    # (a third of the first pass's queueing time, profiled with bench/track_bench.py).
    table = CustomerNotice.__table__
    stmt = (
        insert(table)
        .on_conflict_do_nothing(index_elements=["contact_id", "dedupe_key"])
        .returning(table.c.id)
    )
    ids: list[int] = []
    for start in range(0, len(values), 1000):
        ids += [row.id for row in session.execute(stmt, values[start : start + 1000]).all()]
    return sorted(ids)


@dataclass(frozen=True)
class NotifyOutcome:
    queued: list[int]
    text: str


def notify_eta_now(
    session: Session, trip_id: int, *, now: datetime, requested_by: str
) -> NotifyOutcome:
    """Tell the trip's customer contacts its current ETA at the next stop now (a dispatcher
    asked): no debounce, no minimum move; the same ETA is never told twice on request."""
    _lock(session)
    stmt = _next_stops(lambda stop: Trip.id == trip_id)
    row = session.execute(stmt).first()
    if row is None:
        return NotifyOutcome([], "This load has no customer or no stop ahead; nothing was sent.")
    event = _eta_event(row, terminal_zones(session), requested=True)
    if event is None:
        return NotifyOutcome([], "This load has no ETA yet; nothing was sent.")
    ids = queue(session, [event], now=now, requested_by=requested_by)
    if ids:
        return NotifyOutcome(ids, f"ETA notice queued for {len(ids)} customer contact(s).")
    wanted = session.scalar(
        select(func.count()).where(CustomerContact.customer_id == row.customer_id)
    )
    if not wanted:
        return NotifyOutcome([], "This customer has no contacts; nothing was sent.")
    return NotifyOutcome([], "The customer was already told this ETA (or wants no ETA notices).")
