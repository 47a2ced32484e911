"""Share links of a trip for its customer: create (the token is shown once), list, revoke;
creation and revocation are audited."""

from __future__ import annotations

from fastapi import APIRouter, Request

from helpers.time_utils import utc_now
from logic.fleet import trips as ops
from logic.listing import Page
from logic.trips import sharing, track_cache
from models.trip_share import TripShareCreated, TripSharePublic
from services.deps import ClientDep, SessionDep, TripsRead, TripsWrite
from services.pagination import PageDep

router = APIRouter(prefix="/trips", tags=["trips"])


@router.post("/{trip_id}/share", status_code=201)
def create_trip_share(
    trip_id: int, request: Request, session: SessionDep, user: TripsWrite, client: ClientDep
) -> TripShareCreated:
    """A customer tracking link: the token is in this answer only (stored hashed)."""
    trip = ops.get_trip(session, trip_id)
    new = sharing.create_share(session, trip, actor=user, client=client, now=utc_now())
    return TripShareCreated(
        id=new.share.id,
        url=str(request.url_for("track_page", token=new.token)),
        token=new.token,
        expires_at=new.share.expires_at,
    )


@router.get("/{trip_id}/shares")
def list_trip_shares(
    trip_id: int, session: SessionDep, _: TripsRead, page: PageDep
) -> Page[TripSharePublic]:
    """The trip's links, newest first unless `sort` says otherwise, without their tokens."""
    return sharing.list_shares(session, ops.get_trip(session, trip_id), page, utc_now())


@router.delete("/{trip_id}/shares/{share_id}")
def revoke_trip_share(
    trip_id: int, share_id: int, session: SessionDep, user: TripsWrite, client: ClientDep
) -> TripSharePublic:
    """Revoke a link: its page answers 404 from now on."""
    trip = ops.get_trip(session, trip_id)
    revoked = sharing.revoke_share(
        session, trip, share_id, actor=user, client=client, now=utc_now()
    )
    track_cache.forget(share_id)  # other workers see it within track_cache.LINK_CHECK_SECONDS
    return revoked
