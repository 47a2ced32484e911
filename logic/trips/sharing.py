"""Customer share links of a trip: create (token shown once, stored hashed), list, revoke, and
the public tracking view a token opens (no driver, no HOS detail, no exact position).

Every unusable token (unknown, expired, revoked) is the same `NotFound`, so the answer never
says which tokens once existed. Both the address and the token are rate limited, per process
(`track_limits`), and a refused hit still counts.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from helpers.errors import NotFound
from helpers.time_utils import zone_for_region
from logic.auth import audit
from logic.auth.audit import ClientInfo
from logic.hos.projection import BREAK_CLOCK, CYCLE, DRIVE, WINDOW
from logic.listing import Page, PageRequest, fetch_page, order_by_clause
from models.location import VehicleLocation
from models.report import ReportRecipients
from models.stop_visit import StopVisit
from models.trip import StopStatus, Trip, TripStop
from models.trip_share import (
    TrackPosition,
    TrackStop,
    TrackView,
    TripShare,
    TripSharePublic,
)
from models.user import User

DEFAULT_LIFETIME = timedelta(hours=24)
# Said to the customer instead of the clock's name: what the rest means for their freight.
REST_BASIS = {
    DRIVE: "includes a required 10-hour rest",
    WINDOW: "includes a required 10-hour rest",
    BREAK_CLOCK: "includes a required 30-minute break",
    CYCLE: "includes a required 34-hour restart",
}
DRIVING_BASIS = "current driving estimate"
# A legal ETA this much later than the driving one includes a rest.
_REST_THRESHOLD = timedelta(minutes=5)


def stop_zone(state: str | None, terminal_zone: str | None = None) -> str:
    """The IANA zone a stop's times are told in: the facility's (from its state or province),
    else the dispatching terminal's (its report recipients' zone), else UTC."""
    return zone_for_region(state) or terminal_zone or "UTC"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewShare:
    share: TripShare
    token: str


def default_expiry(trip: Trip, stops: list[TripStop], now: datetime) -> datetime:
    """24 h after delivery (the last stop left, else its appointment, else the trip's scheduled
    end); a link made after that moment still lives 24 h, or it would be dead on arrival."""
    last = stops[-1] if stops else None
    delivered = None
    if last is not None:
        delivered = (
            last.visit_departed_at
            or last.departed_at
            or last.appointment_end
            or last.appointment_start
        )
    delivered = delivered or trip.actual_end or trip.scheduled_end
    if delivered is None or delivered + DEFAULT_LIFETIME <= now:
        return now + DEFAULT_LIFETIME
    return delivered + DEFAULT_LIFETIME


def _stops(session: Session, trip_id: int) -> list[TripStop]:
    return list(
        session.scalars(
            select(TripStop).where(TripStop.trip_id == trip_id).order_by(TripStop.sequence)
        )
    )


def create_share(
    session: Session, trip: Trip, *, actor: User, client: ClientInfo, now: datetime
) -> NewShare:
    token = secrets.token_urlsafe(32)
    share = TripShare(
        trip_id=trip.id,
        token_hash=hash_token(token),
        created_by=actor.id,
        created_at=now,
        expires_at=default_expiry(trip, _stops(session, trip.id), now),
    )
    session.add(share)
    session.flush()
    audit.record(
        session,
        "trip.share_create",
        actor=actor,
        resource_type="trip",
        resource_id=trip.id,
        details={"share_id": share.id, "expires_at": share.expires_at.isoformat()},
        client=client,
    )
    return NewShare(share=share, token=token)


def share_public(share: TripShare, now: datetime) -> TripSharePublic:
    return TripSharePublic(
        id=share.id,
        trip_id=share.trip_id,
        created_by=share.created_by,
        created_at=share.created_at,
        expires_at=share.expires_at,
        revoked_at=share.revoked_at,
        active=share.revoked_at is None and share.expires_at > now,
    )


SHARE_SORTABLE = {
    "id": TripShare.id,
    "created_at": TripShare.created_at,
    "expires_at": TripShare.expires_at,
}


def list_shares(
    session: Session, trip: Trip, page: PageRequest, now: datetime
) -> Page[TripSharePublic]:
    """One page of the trip's links (default: newest first)."""
    stmt = select(TripShare).where(TripShare.trip_id == trip.id)
    order = order_by_clause(page.sort, SHARE_SORTABLE, default="-id", tie_breaker=TripShare.id)
    rows, total = fetch_page(session, stmt, page, order)
    return Page[TripSharePublic](
        items=[share_public(row, now) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


def revoke_share(
    session: Session,
    trip: Trip,
    share_id: int,
    *,
    actor: User,
    client: ClientInfo,
    now: datetime,
) -> TripSharePublic:
    """Idempotent: revoking a revoked link keeps its first revocation time (and audits once)."""
    share = session.get(TripShare, share_id)
    if share is None or share.trip_id != trip.id:
        raise NotFound(f"share {share_id} of trip {trip.id} not found")
    if share.revoked_at is None:
        share.revoked_at = now
        session.add(share)
        audit.record(
            session,
            "trip.share_revoke",
            actor=actor,
            resource_type="trip",
            resource_id=trip.id,
            details={"share_id": share.id},
            client=client,
        )
        session.flush()
    return share_public(share, now)


def rate_limit_keys(token: str, client: ClientInfo) -> list[str]:
    """The counters a tracking hit counts on: its client address and its link."""
    return [f"track:ip:{client.ip or 'unknown'}"[:128], f"track:token:{hash_token(token)}"]


def resolve_share(session: Session, token: str, now: datetime) -> TripShare:
    share = TripShare.by_token_hash(session, hash_token(token))
    if share is None or share.revoked_at is not None or share.expires_at <= now:
        raise NotFound("not found")
    return share


def coarse_place(formatted_address: str | None) -> TrackPosition | None:
    """City and state from a reverse-geocoded address ("street, City, ST 12345"); the street
    and the coordinates are dropped on purpose."""
    if not formatted_address:
        return None
    parts = [p.strip() for p in formatted_address.split(",") if p.strip()]
    if parts and parts[-1].upper() in ("USA", "US", "UNITED STATES", "CANADA", "MEXICO"):
        parts = parts[:-1]
    if len(parts) < 2:
        return None
    state = parts[-1].split()[0] if parts[-1].split() else None
    if state is None or not state.isalpha():
        return None
    return TrackPosition(city=parts[-2], state=state.upper())


def _stop_status(stop: TripStop, held: set[int]) -> str:
    if stop.status == StopStatus.SKIPPED:
        return "skipped"
    if stop.is_done:
        return "departed"
    if stop.is_reached:
        return "held" if stop.id in held else "arrived"
    return "upcoming"


def legal_eta(
    physical: datetime | None, legal: datetime | None, binding_clock: str | None
) -> tuple[datetime | None, str | None, timedelta]:
    """(ETA told, its basis, the delay the rests add) from a stop's physical and legal ETA:
    the later of the two, said as "includes a required 10-hour rest" when the legal plan
    adds a rest, else "current driving estimate"."""
    rest = REST_BASIS.get(binding_clock or "")
    if legal is not None and physical is not None:
        delay = max(legal - physical, timedelta(0))
        basis = rest if rest and delay >= _REST_THRESHOLD else DRIVING_BASIS
        return max(legal, physical), basis, delay
    if physical is not None:
        return physical, DRIVING_BASIS, timedelta(0)
    return legal, (rest or DRIVING_BASIS) if legal else None, timedelta(0)


def _etas(trip: Trip, stops: list[TripStop]) -> dict[int, tuple[datetime | None, str | None]]:
    """ETA and its basis for each stop not reached yet.

    The next stop and the last take the legal ETA when there is one; a stop in between carries
    the delay the legal plan adds before it (a rest before the next stop delays every later one).
    """
    remaining = [s for s in stops if not s.is_reached]
    out: dict[int, tuple[datetime | None, str | None]] = {}
    delay, basis = timedelta(0), DRIVING_BASIS
    for index, stop in enumerate(remaining):
        physical = stop.eta
        legal = None
        if index == 0:
            physical = physical or trip.eta_next_stop
            legal = trip.eta_next_stop_legal
        elif index == len(remaining) - 1:
            physical = physical or trip.eta_final
            legal = trip.eta_final_legal
        if legal is None and physical is not None:
            out[stop.id] = (physical + delay, basis)
            continue
        eta, told_basis, rest_delay = legal_eta(physical, legal, trip.hos_binding_clock)
        out[stop.id] = (eta, told_basis)
        if legal is not None and physical is not None:
            delay, basis = rest_delay, told_basis or DRIVING_BASIS
    return out


def track_view(session: Session, share: TripShare, now: datetime) -> TrackView:
    trip = session.get(Trip, share.trip_id)
    if trip is None:  # the trip was deleted with its links; answer like any dead token
        raise NotFound("not found")
    stops = _stops(session, trip.id)
    held = set(
        session.scalars(
            select(StopVisit.stop_id).where(
                StopVisit.trip_id == trip.id,
                StopVisit.departed_at.is_(None),
                StopVisit.billable_from.is_not(None),
                StopVisit.billable_from <= now,
            )
        )
    )
    position = None
    moments = [trip.eta_updated_at]
    if trip.vehicle_id is not None:
        # One truck: a plain newest-first LIMIT 1. Building the correlated every-truck statement
        # took 3.5 times its Python, almost half of a view's build (profiled).
        latest = VehicleLocation.latest_for_vehicle(session, trip.vehicle_id)
        if latest is not None:
            position = coarse_place(latest.formatted_address)
            moments.append(latest.recorded_at)
    etas = _etas(trip, stops)
    recipients = ReportRecipients.get_for(session, trip.terminal) if trip.terminal else None
    terminal_zone = recipients.timezone if recipients is not None else None
    track_stops = []
    for stop in stops:
        moments += [
            stop.arrived_at,
            stop.departed_at,
            stop.visit_arrived_at,
            stop.visit_departed_at,
        ]
        eta, basis = etas.get(stop.id, (None, None))
        track_stops.append(
            TrackStop(
                sequence=stop.sequence,
                stop_type=stop.stop_type,
                name=stop.name,
                city=stop.city,
                state=stop.state,
                window_start=stop.appointment_start,
                window_end=stop.appointment_end,
                status=_stop_status(stop, held),
                eta=eta,
                eta_basis=basis,
                timezone=stop_zone(stop.state, terminal_zone),
            )
        )
    known = [m for m in moments if m is not None]
    return TrackView(
        load_number=trip.load_number,
        status=trip.status,
        stops=track_stops,
        position=position,
        last_update=max(known) if known else None,
        expires_at=share.expires_at,
        timezone=track_stops[-1].timezone if track_stops else stop_zone(None, terminal_zone),
    )
