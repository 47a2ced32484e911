"""The tracking cache's misses: requests that miss on one link together read and build it once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from logic.trips import track_cache
from models.trip_share import TrackView

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def test_misses_on_one_link_together_build_its_view_once(monkeypatch):
    share = SimpleNamespace(id=7, expires_at=NOW + timedelta(hours=1))
    reads, builds = [], []

    def resolve_share(session, token, now):
        reads.append(token)
        return share

    def track_view(session, share, now):
        builds.append(share.id)
        time.sleep(0.2)  # long enough for every other request to arrive meanwhile
        return TrackView(
            load_number="LD-1",
            status="in_transit",
            stops=[],
            position=None,
            last_update=None,
            expires_at=share.expires_at,
            timezone="UTC",
        )

    monkeypatch.setattr(track_cache, "resolve_share", resolve_share)
    monkeypatch.setattr(track_cache, "track_view", track_view)
    session = SimpleNamespace(get=lambda model, key: share)
    built = []

    def poll() -> None:
        built.append(track_cache.load(session, "token-a", NOW, 10.0))

    threads = [threading.Thread(target=poll) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert reads == ["token-a"] and builds == [7]
    assert len({id(b) for b in built}) == 1
    assert track_cache.peek("token-a", NOW) is built[0]
    assert built[0].etag.startswith('W/"')
