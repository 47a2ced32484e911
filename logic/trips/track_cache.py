"""Built tracking views and resolved links, kept a few seconds per process: a customer's page and
its JSON twin are polled, while what they show changes at most every minute or so (ingest, the
ETA pass). A poll of a cached link and view asks the database nothing (`peek`, no thread needed).

A resolved link is kept `LINK_CHECK_SECONDS` (its expiry is checked on every hit), so a link
revoked in another process answers 404 within that; the revoking process forgets it at once
(`forget`). Views are keyed by the link's id; `TRACK_VIEW_CACHE_SECONDS` (0: off) bounds how
stale one may be; each process keeps at most `MAX_VIEWS` (least recently used go first).
Requests that miss together on one link read it and build its view once (`load`).
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from cachetools import LRUCache, TTLCache
from sqlmodel import Session

from logic.trips.sharing import hash_token, resolve_share, track_view
from models.trip_share import TrackView, TripShare

MAX_VIEWS = 10_000
# How long another process's revocation may go unseen here: one indexed read per link this often.
LINK_CHECK_SECONDS = 2.0
# Misses on one link wait for each other: while its view is rebuilt (milliseconds, far longer on
# a busy machine) the link keeps being polled, and each poll would rebuild it again. Links share
# these few locks, so unknown tokens cannot grow a lock table.
_FLIGHTS = 64


@dataclass(frozen=True)
class BuiltView:
    view: TrackView
    body: bytes  # the JSON twin, serialized once
    etag: str  # of `body`, hashed once with it (a 304 compares tags, never bodies)
    fresh_until: datetime


@dataclass(frozen=True)
class LiveLink:
    share_id: int
    expires_at: datetime


def _clock() -> float:
    return time.monotonic()


_lock = threading.Lock()
_views: LRUCache[int, BuiltView] = LRUCache(maxsize=MAX_VIEWS)
_links: TTLCache[str, LiveLink] = TTLCache(
    maxsize=MAX_VIEWS, ttl=LINK_CHECK_SECONDS, timer=lambda: _clock()
)
_flights = [threading.Lock() for _ in range(_FLIGHTS)]


def peek(token: str, now: datetime) -> BuiltView | None:
    """The view of a link checked in the last `LINK_CHECK_SECONDS`, unexpired, whose view is
    still fresh; else None (then `load`). Memory only: safe to call on the event loop."""
    key = hash_token(token)
    with _lock:
        link = _links.get(key)
        built = _views.get(link.share_id) if link is not None else None
    if link is None or link.expires_at <= now or built is None or now >= built.fresh_until:
        return None
    return built


def load(session: Session, token: str, now: datetime, max_age_seconds: float) -> BuiltView:
    """`live_link` then `cached_view`, once for all the requests that missed on this link
    together: the others wait, then find what the first one kept. Blocks (a worker thread)."""
    key = hash_token(token)
    with _flights[hash(key) % _FLIGHTS]:
        link = live_link(session, token, now)
        return cached_view(session, link, now, max_age_seconds)


def live_link(session: Session, token: str, now: datetime) -> LiveLink:
    """The live link of `token` (read at most every `LINK_CHECK_SECONDS`), else `NotFound`."""
    key = hash_token(token)
    with _lock:
        link = _links.get(key)
    if link is None:
        share = resolve_share(session, token, now)
        link = LiveLink(share.id, share.expires_at)
        with _lock:
            _links[key] = link
    if link.expires_at <= now:
        resolve_share(session, token, now)  # raises the same NotFound as an unknown token
    return link


def cached_view(
    session: Session, link: LiveLink, now: datetime, max_age_seconds: float
) -> BuiltView:
    """The link's view built at most `max_age_seconds` ago, else built now (and kept)."""
    with _lock:
        built = _views.get(link.share_id)
    if built is not None and now < built.fresh_until:
        return built
    share = session.get(TripShare, link.share_id)
    assert share is not None  # links are revoked, never deleted
    view = track_view(session, share, now)
    # Kept between half and all of the allowed age, so views built together (a worker's first
    # minute) are not all rebuilt in the same instant: that burst was the p99 of the bench.
    kept = timedelta(seconds=max_age_seconds * random.uniform(0.5, 1.0))
    body = view.model_dump_json().encode()
    etag = f'W/"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'
    built = BuiltView(view, body, etag, now + kept)
    if max_age_seconds > 0:
        with _lock:
            _views[link.share_id] = built
    return built


def forget(share_id: int) -> None:
    """Drop a revoked link and its view from this process at once."""
    with _lock:
        _views.pop(share_id, None)
        for key in [k for k, link in _links.items() if link.share_id == share_id]:
            _links.pop(key, None)


def clear() -> None:
    with _lock:
        _views.clear()
        _links.clear()
