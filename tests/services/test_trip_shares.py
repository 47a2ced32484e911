"""Share links and the public tracking page: the token is stored hashed and shown once, dead
tokens are one indistinguishable 404, no driver detail ever leaves, ETag/304 and 429."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from config import get_settings
from helpers.time_utils import format_local_datetime, utc_now
from logic.trips.sharing import coarse_place, hash_token
from models.audit_log import AuditLog
from models.trip_share import TripShare
from tests.factories import make_driver, make_load_mid_route, make_trip

DRIVER_PHONE = "+19015550147"


@pytest.fixture
def dispatcher(auth_headers):
    return auth_headers(role="dispatcher")


def _loaded_trip(session):
    """A trip mid-route with a driver whose name and phone must never leak."""
    driver = make_driver(session, first_name="Zebulon", last_name="Quarrington", phone=DRIVER_PHONE)
    return make_load_mid_route(session, now=utc_now(), driver=driver, delivery=("Nashville", "TN"))


def _share(client, session, trip, headers) -> dict:
    response = client.post(f"/trips/{trip.id}/share", headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_shows_the_token_once_and_stores_only_its_hash(client, session, dispatcher):
    trip = _loaded_trip(session)
    created = _share(client, session, trip, dispatcher)
    token = created["token"]
    assert len(token) >= 43 and created["url"].endswith(f"/track/{token}")
    row = session.exec(select(TripShare).where(TripShare.trip_id == trip.id)).one()
    assert row.token_hash == hash_token(token) and token not in row.token_hash
    # Nothing anywhere in the row (or the audit trail) holds the token in clear.
    assert token not in repr(row.model_dump())
    audit = session.exec(select(AuditLog).where(AuditLog.action == "trip.share_create")).one()
    assert audit.resource_id == str(trip.id) and token not in repr(audit.details)
    listed = client.get(f"/trips/{trip.id}/shares", headers=dispatcher)
    assert listed.status_code == 200
    assert token not in listed.text and listed.json()["items"][0]["active"] is True


def test_default_expiry_is_a_day_after_the_delivery_window(client, session, dispatcher):
    trip = _loaded_trip(session)
    created = _share(client, session, trip, dispatcher)
    last = max(trip.stops, key=lambda s: s.sequence)
    row = session.get(TripShare, created["id"])
    assert row.expires_at == last.appointment_end + timedelta(hours=24)


def test_the_page_and_json_show_the_load_without_driver_detail(client, session, dispatcher):
    trip = _loaded_trip(session)
    token = _share(client, session, trip, dispatcher)["token"]
    page = client.get(f"/track/{token}")
    data = client.get(f"/track/{token}.json")
    assert page.status_code == 200 and data.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    body = data.json()
    assert body["load_number"] == "LD-4242"
    assert [s["status"] for s in body["stops"]] == ["departed", "held", "upcoming"]
    delivery = body["stops"][2]
    assert delivery["eta_basis"] == "includes a required 10-hour rest"
    assert body["stops"][0]["eta"] is None
    assert body["position"] == {"city": "Memphis", "state": "TN"}
    assert body["last_update"] is not None
    for text in (page.text, data.text):
        for secret in (
            "Zebulon",
            "Quarrington",
            DRIVER_PHONE,
            "5550147",
            "35.12",
            "90.65",
            "Riverside",
            "drive",
            "hos",
            "driver",
        ):
            assert secret.lower() not in text.lower(), secret
    assert "LD-4242" in page.text and "includes a required 10-hour rest" in page.text
    # Windows and ETAs read in each facility's own time (Dallas and Nashville: Central).
    assert [s["timezone"] for s in body["stops"]] == ["America/Chicago"] * 3
    last = max(trip.stops, key=lambda s: s.sequence)
    assert format_local_datetime(last.appointment_start, "America/Chicago") in page.text
    assert "UTC" not in page.text
    assert "Waiting to unload".lower() in page.text.lower()
    # Self-contained: nothing on the page asks for another origin.
    assert not re.search(r"(src|href)=|https?://|@import|url\(", page.text)
    assert 'name="viewport"' in page.text


def test_unchanged_json_is_answered_304(client, session, dispatcher):
    token = _share(client, session, _loaded_trip(session), dispatcher)["token"]
    first = client.get(f"/track/{token}.json")
    etag = first.headers["etag"]
    again = client.get(f"/track/{token}.json", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag and again.content == b""


def test_unknown_expired_and_revoked_tokens_are_one_identical_404(client, session, dispatcher):
    trip = _loaded_trip(session)
    revoked = _share(client, session, trip, dispatcher)
    deleted = client.delete(f"/trips/{trip.id}/shares/{revoked['id']}", headers=dispatcher)
    assert deleted.status_code == 200 and deleted.json()["active"] is False
    expired = _share(client, session, trip, dispatcher)
    session.get(TripShare, expired["id"]).expires_at = utc_now() - timedelta(seconds=1)
    session.commit()
    answers = []
    for token in (revoked["token"], expired["token"], "x" * 43):
        for suffix in ("", ".json"):
            response = client.get(f"/track/{token}{suffix}")
            assert response.status_code == 404
            answers.append(response.json())
    assert all(a == answers[0] for a in answers)
    assert answers[0]["error"] == "not_found"
    audit = session.exec(select(AuditLog).where(AuditLog.action == "trip.share_revoke")).all()
    assert len(audit) == 1


def test_rate_limit_answers_429_with_retry_after(client, session, dispatcher, monkeypatch):
    token = _share(client, session, _loaded_trip(session), dispatcher)["token"]
    monkeypatch.setenv("TRACK_RATE_LIMIT_PER_MINUTE", "3")
    get_settings.cache_clear()
    try:
        # A minute boundary may reset the window once; twice the limit plus one always trips it.
        statuses = [client.get(f"/track/{token}.json").status_code for _ in range(7)]
        refused = client.get(f"/track/{token}.json")
    finally:
        monkeypatch.delenv("TRACK_RATE_LIMIT_PER_MINUTE")
        get_settings.cache_clear()
    assert 429 in statuses and refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["error"] == "too_many_requests"


def test_unknown_tokens_count_against_the_address(client, session, monkeypatch):
    monkeypatch.setenv("TRACK_RATE_LIMIT_PER_MINUTE", "2")
    get_settings.cache_clear()
    try:
        statuses = [client.get(f"/track/guess{n:040d}").status_code for n in range(5)]
    finally:
        monkeypatch.delenv("TRACK_RATE_LIMIT_PER_MINUTE")
        get_settings.cache_clear()
    assert statuses[0] == 404 and statuses[-1] == 429


def test_sharing_needs_trips_write_and_listing_trips_read(client, session, auth_headers):
    trip = _loaded_trip(session)
    viewer = auth_headers(role="viewer")
    assert client.post(f"/trips/{trip.id}/share").status_code == 401
    assert client.post(f"/trips/{trip.id}/share", headers=viewer).status_code == 403
    assert client.get(f"/trips/{trip.id}/shares", headers=viewer).status_code == 200
    assert client.delete(f"/trips/{trip.id}/shares/1", headers=viewer).status_code == 403


def test_a_share_of_another_trip_cannot_be_revoked_through_this_one(client, session, dispatcher):
    trip, other = _loaded_trip(session), make_trip(session, stops=1)
    share = _share(client, session, trip, dispatcher)
    assert (
        client.delete(f"/trips/{other.id}/shares/{share['id']}", headers=dispatcher).status_code
        == 404
    )
    assert client.get(f"/track/{share['token']}.json").status_code == 200


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("1200 Riverside Dr, Memphis, TN 38103", ("Memphis", "TN")),
        ("I-40 W, Little Rock, AR 72201, USA", ("Little Rock", "AR")),
        ("35.1, -90.0", None),
        ("", None),
        (None, None),
    ],
)
def test_coarse_place_keeps_only_city_and_state(address, expected):
    place = coarse_place(address)
    assert (place and (place.city, place.state)) == expected or (place is None and expected is None)


def test_a_moved_eta_changes_the_etag(client, session, dispatcher):
    trip = _loaded_trip(session)
    token = _share(client, session, trip, dispatcher)["token"]
    etag = client.get(f"/track/{token}.json").headers["etag"]
    trip.eta_next_stop_legal += timedelta(minutes=40)  # the delivery is the next stop
    session.add(trip)
    session.commit()
    moved = client.get(f"/track/{token}.json", headers={"If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["etag"] != etag


def test_a_rest_before_the_next_stop_delays_every_later_stop(session):
    from logic.trips.sharing import DRIVING_BASIS, _etas

    now = utc_now()
    trip = make_trip(
        session,
        stops=[{"eta": now + timedelta(hours=h)} for h in (2, 4, 6)],
        eta_next_stop=now + timedelta(hours=2),
        eta_next_stop_legal=now + timedelta(hours=12, minutes=30),
        eta_final=now + timedelta(hours=6),
        eta_final_legal=now + timedelta(hours=16, minutes=30),
        hos_binding_clock="shift",
    )
    session.refresh(trip)
    stops = sorted(trip.stops, key=lambda s: s.sequence)
    etas = _etas(trip, stops)
    middle_eta, middle_basis = etas[stops[1].id]
    assert middle_eta == now + timedelta(hours=14, minutes=30)
    assert middle_basis == "includes a required 10-hour rest"
    plain = make_trip(session, stops=[{"eta": now + timedelta(hours=1)}])
    session.refresh(plain)
    assert _etas(plain, plain.stops)[plain.stops[0].id] == (now + timedelta(hours=1), DRIVING_BASIS)


def test_a_view_is_reused_for_a_while_but_a_revoked_link_dies_at_once(
    client, session, dispatcher, monkeypatch
):
    from logic.trips import track_cache

    trip = _loaded_trip(session)
    created = _share(client, session, trip, dispatcher)
    monkeypatch.setenv("TRACK_VIEW_CACHE_SECONDS", "600")
    get_settings.cache_clear()
    track_cache.clear()
    try:
        first = client.get(f"/track/{created['token']}.json").json()
        trip.load_number = "LD-CHANGED"
        session.commit()
        cached = client.get(f"/track/{created['token']}.json").json()
        assert cached == first and cached["load_number"] == "LD-4242"
        client.delete(f"/trips/{trip.id}/shares/{created['id']}", headers=dispatcher)
        assert client.get(f"/track/{created['token']}.json").status_code == 404
    finally:
        monkeypatch.delenv("TRACK_VIEW_CACHE_SECONDS")
        get_settings.cache_clear()
        track_cache.clear()
    fresh = _share(client, session, trip, dispatcher)
    assert client.get(f"/track/{fresh['token']}.json").json()["load_number"] == "LD-CHANGED"


def _view_cache(monkeypatch, seconds: str) -> None:
    monkeypatch.setenv("TRACK_VIEW_CACHE_SECONDS", seconds)
    get_settings.cache_clear()


def test_a_poll_of_a_cached_link_and_view_asks_the_database_nothing(
    client, session, dispatcher, monkeypatch, query_counter
):
    token = _share(client, session, _loaded_trip(session), dispatcher)["token"]
    _view_cache(monkeypatch, "600")
    try:
        first = client.get(f"/track/{token}.json")
        query_counter.reset()
        # Not even a worker thread and a session: the answer comes from memory on the loop.
        monkeypatch.setattr("services.track._load", lambda *args: pytest.fail("read again"))
        again = client.get(f"/track/{token}.json", headers={"If-None-Match": first.headers["etag"]})
    finally:
        monkeypatch.delenv("TRACK_VIEW_CACHE_SECONDS")
        get_settings.cache_clear()
    assert again.status_code == 304
    assert query_counter.statements == []


def test_a_link_revoked_elsewhere_answers_404_within_the_link_check(
    client, session, dispatcher, monkeypatch
):
    """Revoked by another worker (straight in the database): this one keeps serving the link
    until `LINK_CHECK_SECONDS` pass, then reads it again and answers 404."""
    from logic.trips import track_cache

    clock = [1000.0]
    monkeypatch.setattr(track_cache, "_clock", lambda: clock[0])
    created = _share(client, session, _loaded_trip(session), dispatcher)
    _view_cache(monkeypatch, "600")
    try:
        assert client.get(f"/track/{created['token']}.json").status_code == 200
        session.get(TripShare, created["id"]).revoked_at = utc_now()
        session.commit()
        clock[0] += track_cache.LINK_CHECK_SECONDS / 2
        assert client.get(f"/track/{created['token']}.json").status_code == 200
        clock[0] += track_cache.LINK_CHECK_SECONDS
        assert client.get(f"/track/{created['token']}.json").status_code == 404
    finally:
        monkeypatch.delenv("TRACK_VIEW_CACHE_SECONDS")
        get_settings.cache_clear()


def test_a_cached_link_answers_404_the_moment_it_expires(client, session, dispatcher, monkeypatch):
    from logic.trips import track_cache

    monkeypatch.setattr(track_cache, "_clock", lambda: 1000.0)  # the link is never re-read
    created = _share(client, session, _loaded_trip(session), dispatcher)
    assert client.get(f"/track/{created['token']}.json").status_code == 200
    expiry = TripShare.by_token_hash(session, hash_token(created["token"])).expires_at
    monkeypatch.setattr("services.track.utc_now", lambda: expiry)
    assert client.get(f"/track/{created['token']}.json").status_code == 404


def test_shares_are_listed_a_page_at_a_time_newest_first(client, session, dispatcher):
    trip = _loaded_trip(session)
    ids = [_share(client, session, trip, dispatcher)["id"] for _ in range(3)]
    _share(client, session, make_trip(session), dispatcher)  # another trip's link stays out
    first = client.get(f"/trips/{trip.id}/shares?limit=2", headers=dispatcher).json()
    second = client.get(f"/trips/{trip.id}/shares?limit=2&offset=2", headers=dispatcher).json()
    assert first["total"] == 3 and first["limit"] == 2
    assert [s["id"] for s in first["items"] + second["items"]] == ids[::-1]
    oldest = client.get(f"/trips/{trip.id}/shares?sort=id", headers=dispatcher).json()
    assert [s["id"] for s in oldest["items"]] == ids
    bad = client.get(f"/trips/{trip.id}/shares?sort=token_hash", headers=dispatcher)
    assert bad.status_code == 422


def test_a_view_is_kept_between_half_and_all_of_the_allowed_age(client, session, dispatcher):
    """Spread rebuilds: views built in the same instant do not all expire in the same one."""
    from logic.trips import track_cache

    created = _share(client, session, _loaded_trip(session), dispatcher)
    now = utc_now()
    link = track_cache.live_link(session, created["token"], now)
    kept = set()
    for _ in range(20):
        track_cache.clear()
        fresh_until = track_cache.cached_view(session, link, now, 10.0).fresh_until
        assert now + timedelta(seconds=5) <= fresh_until <= now + timedelta(seconds=10)
        kept.add(fresh_until)
    assert len(kept) > 1
    assert (
        track_cache.cached_view(session, link, now + timedelta(seconds=4.9), 10.0).fresh_until
        in kept
    )
