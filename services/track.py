"""Public tracking of one load by its share link: the HTML page and its JSON twin (ETag/304).

Public by design (the token is the credential): no login, rate limited per client address and
per link (in memory, per worker: logic/trips/track_limits.py). A poll of a link seen in the last
seconds asks the database nothing (logic/trips/track_cache.py) and runs on the event loop: no
worker thread, no session. Only a miss reads, in a worker thread, in a read-only session (the
route writes nothing). An unknown, expired or revoked token is the same 404, with no hint which.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from config import get_settings
from db.database import session_scope
from helpers.time_utils import utc_now
from logic.auth.audit import ClientInfo
from logic.trips import sharing, track_cache, track_limits
from logic.trips.track_cache import BuiltView
from models.trip_share import TrackView
from services.deps import ClientDep
from services.http.etag import matches
from services.openapi import error_responses
from services.track_html import render

router = APIRouter(prefix="/track", tags=["tracking"])

# The page changes every few minutes at most; browsers revalidate, shared caches keep out.
_CACHE = "private, no-cache"


async def _view(token: str, client: ClientInfo) -> BuiltView:
    now = utc_now()
    settings = get_settings()
    keys = sharing.rate_limit_keys(token, client)
    track_limits.hit(keys, limit=settings.TRACK_RATE_LIMIT_PER_MINUTE, now=now)
    built = track_cache.peek(token, now)
    if built is None:
        built = await run_in_threadpool(_load, token, now, settings.TRACK_VIEW_CACHE_SECONDS)
    return built


def _load(token: str, now: datetime, max_age_seconds: float) -> BuiltView:
    with session_scope(immediate=False) as session:
        return track_cache.load(session, token, now, max_age_seconds)


# Declared before the page: `{token}` alone would also match "<token>.json".
# A 404 or 429 still counts against the limit (counted before the link is looked up).
@router.get(
    "/{token}.json",
    response_model=TrackView,
    responses={
        304: {"description": "Nothing changed since the ETag sent in If-None-Match"},
        **error_responses(429),
    },
)
async def track_json(token: str, request: Request, client: ClientDep) -> Response:
    """The load's stops, ETAs and coarse position, for the customer holding the link."""
    built = await _view(token, client)
    headers = {"ETag": built.etag, "Cache-Control": _CACHE}
    if matches(request.headers.get("if-none-match", "").encode(), built.etag.encode()):
        return Response(status_code=304, headers=headers)
    return Response(built.body, media_type="application/json", headers=headers)


@router.get("/{token}", response_class=HTMLResponse, responses=error_responses(429))
async def track_page(token: str, client: ClientDep) -> HTMLResponse:
    """The tracking page a customer opens from the link (no login)."""
    # Rendered on the loop: a few stops of string formatting (~60 µs), about a thread hop.
    page = render((await _view(token, client)).view)
    return HTMLResponse(page, headers={"Cache-Control": _CACHE})
