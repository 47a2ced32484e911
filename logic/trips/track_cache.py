"""Built tracking views, kept a few seconds per process: a customer's page and its JSON twin are
polled, while what they show changes at most every minute or so (ingest, the ETA pass).

Only the view of a live link is cached, keyed by the link's id: every request still reads the
link itself (`sharing.resolve_share`), so a revoked or expired link answers 404 at once, and
still counts against the rate limits. `TRACK_VIEW_CACHE_SECONDS` (0: off) bounds how stale a
view may be; each process keeps at most `MAX_VIEWS` (least recently used go first).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from cachetools import LRUCache
from sqlmodel import Session

from logic.trips.sharing import track_view
from models.trip_share import TrackView, TripShare

MAX_VIEWS = 10_000


@dataclass(frozen=True)
class BuiltView:
    view: TrackView
    body: bytes  # the JSON twin, serialized once
    built_at: datetime


_lock = threading.Lock()
_views: LRUCache[int, BuiltView] = LRUCache(maxsize=MAX_VIEWS)


def cached_view(
    session: Session, share: TripShare, now: datetime, max_age_seconds: float
) -> BuiltView:
    """The link's view built at most `max_age_seconds` ago, else built now (and kept)."""
    with _lock:
        built = _views.get(share.id)
    if built is not None and now - built.built_at < timedelta(seconds=max_age_seconds):
        return built
    view = track_view(session, share, now)
    built = BuiltView(view, view.model_dump_json().encode(), now)
    if max_age_seconds > 0:
        with _lock:
            _views[share.id] = built
    return built


def clear() -> None:
    with _lock:
        _views.clear()
