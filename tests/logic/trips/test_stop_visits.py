"""Stop truth, table-driven: a truck's GPS track played pass by pass through the alert engine.

Each case drives one truck towards one stop (Dallas) along a track given in miles north of the
stop, runs the whole evaluation every `PASS_MINUTES` with only the points recorded so far, and
checks the visits, the late alert and the detention alert that result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from logic.alerts.engine import evaluate
from logic.calls.insights import finalize_call
from logic.trips.stop_visits import (
    Fence,
    TrackState,
    advance,
    detention_minutes,
    stop_rules,
)
from models.alert import Alert, AlertDelivery, AlertStatus, AlertType, DeliveryKind
from models.call import CallOutcome, CallPurpose, CallStatus
from models.stop_visit import StopTrack, StopVisit
from models.trip import StopStatus, TripStatus, TripStop
from tests.factories import make_driver, make_location, make_trip, make_vehicle
from tests.factories_calls import make_call

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
STOP = (32.7767, -96.797)
MILE = 1 / 69.05  # degrees of latitude
PASS_MINUTES = 10
TYPES = [AlertType.LATE_FOR_APPOINTMENT, AlertType.DETENTION, AlertType.STOPPED_TOO_LONG]


def segment(start: int, end: int, miles: float, every: int = 5) -> list[tuple[int, float]]:
    """Points from minute `start` (inclusive) to `end` (exclusive), `miles` north of the stop."""
    return [(m, miles) for m in range(start, end, every)]


def jitter(start: int, end: int, a: float, b: float, every: int = 2) -> list[tuple[int, float]]:
    return [(m, a if i % 2 == 0 else b) for i, m in enumerate(range(start, end, every))]


@dataclass
class Case:
    id: str
    track: list[tuple[int, float]]
    until: int  # last pass, minutes after T0
    window: tuple[int, int] = (60, 120)  # appointment start/end, minutes after T0
    tms: tuple[int | None, int | None] | None = None  # TMS arrival/departure minutes
    gps_visit: tuple[int, int | None] | None = None  # expected GPS arrival/departure minutes
    tms_visit: tuple[int, int | None] | None = None
    late_minutes: int | None = None  # on the GPS visit
    late_alert: bool = False  # an active late alert at the end
    late_alert_ever: bool = False
    detention: str | None = None  # "open" | "resolved" | None
    billable: int | None = None  # detention minutes on the visit (final, or running)
    stopped_alert: bool = False
    extra: dict = field(default_factory=dict)


CASES = [
    Case(
        "on time then held past the window: never late, detention after free time",
        track=segment(0, 50, 20) + segment(50, 400, 0.05),
        until=390,
        gps_visit=(50, None),
        late_minutes=-70,
        detention="open",
        # Clock from the appointment start (60) as the truck came early: 390 - 60 - 120.
        billable=210,
    ),
    Case(
        "arrived late: late by the actual minutes, the late alert ends on arrival",
        track=segment(0, 150, 30) + segment(150, 200, 0.1),
        until=190,
        gps_visit=(150, None),
        late_minutes=30,
        late_alert_ever=True,
        late_alert=False,
        detention=None,  # 40 min held: inside free time
    ),
    Case(
        "GPS jitter across the fence: one visit, one departure",
        track=(
            segment(0, 40, 10)
            + jitter(40, 60, 0.3, 0.7)  # flaps at the edge before settling: no entry yet
            + segment(60, 200, 0.2)
            + jitter(200, 260, 0.45, 0.7)  # jitter while parked: never two consecutive outs
            + segment(260, 300, 0.2)
            + segment(300, 330, 15)
        ),
        until=330,
        gps_visit=(60, 300),
        late_minutes=-60,
        detention="resolved",
        billable=120,  # clock 60..300 = 240 min held from appointment start, minus 120 free
    ),
    Case(
        "TMS says arrived earlier than GPS: both kept",
        track=segment(0, 70, 12) + segment(70, 150, 0.1),
        tms=(45, None),
        until=140,
        gps_visit=(70, None),
        tms_visit=(45, None),
        late_minutes=-50,
    ),
    Case(
        "TMS says arrived later than GPS and departed: both kept",
        track=segment(0, 70, 12) + segment(70, 150, 0.1) + segment(150, 200, 12),
        tms=(95, 160),
        until=190,
        gps_visit=(70, 150),
        tms_visit=(95, 160),
        late_minutes=-50,
    ),
    Case(
        "departure resolves detention with the final figure",
        track=segment(0, 30, 25) + segment(30, 400, 0.1) + segment(400, 440, 20),
        window=(0, 60),
        until=440,
        gps_visit=(30, 400),
        late_minutes=-30,
        detention="resolved",
        billable=250,  # 400 - 30 - 120
    ),
    Case(
        "stopped 0.4 mi from the stop for 6 h: detention, not silence",
        track=segment(0, 20, 30) + segment(20, 400, 0.4),
        window=(0, 60),
        until=390,
        gps_visit=(20, None),
        late_minutes=-40,
        detention="open",
        billable=250,  # 390 - 20 - 120
    ),
]


def _play(session, case: Case):
    driver = make_driver(session)
    truck = make_vehicle(session)
    trip = make_trip(
        session,
        driver=driver,
        vehicle=truck,
        status=TripStatus.IN_TRANSIT,
        stops=[
            {
                "latitude": STOP[0],
                "longitude": STOP[1],
                "name": "Walmart DC 6094",
                "appointment_start": T0 + timedelta(minutes=case.window[0]),
                "appointment_end": T0 + timedelta(minutes=case.window[1]),
            }
        ],
    )
    stop = trip.stops[0]
    points = sorted(case.track)
    late_ever = False
    done = 0
    for minute in range(0, case.until + 1, PASS_MINUTES):
        now = T0 + timedelta(minutes=minute)
        while done < len(points) and points[done][0] <= minute:
            at, miles = points[done]
            make_location(
                session,
                vehicle=truck,
                recorded_at=T0 + timedelta(minutes=at),
                latitude=STOP[0] + miles * MILE,
                longitude=STOP[1],
                speed_mph=0 if miles < 1 else 55,
            )
            done += 1
        if case.tms is not None:
            arrived, departed = case.tms
            stop.arrived_at = T0 + timedelta(minutes=arrived) if minute >= arrived else None
            if departed is not None and minute >= departed:
                stop.departed_at = T0 + timedelta(minutes=departed)
                stop.status = StopStatus.DEPARTED
            session.flush()
        evaluate(session, now=now, types=TYPES)
        session.expire_all()
        late_ever = late_ever or bool(_alert(session, f"late_for_appointment:trip:{trip.id}"))
    return trip, stop, late_ever


def _alert(session, fingerprint: str, active: bool = True) -> Alert | None:
    query = select(Alert).where(Alert.fingerprint == fingerprint)
    if active:
        query = query.where(Alert.status != AlertStatus.RESOLVED)
    return session.scalars(query.order_by(Alert.id.desc())).first()


def _minutes(value: datetime | None) -> int | None:
    return None if value is None else int((value - T0).total_seconds() // 60)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_stop_truth(session, case: Case) -> None:
    trip, _stop, late_ever = _play(session, case)
    visits = {
        v.source: v for v in session.scalars(select(StopVisit).where(StopVisit.trip_id == trip.id))
    }
    gps = visits.get("gps")
    if case.gps_visit is None:
        assert gps is None
    else:
        assert gps is not None
        assert (_minutes(gps.arrived_at), _minutes(gps.departed_at)) == case.gps_visit
        assert gps.late_minutes == case.late_minutes
        assert gps.facility == "Walmart DC 6094"
    if case.tms_visit is not None:
        tms = visits["tms"]
        assert (_minutes(tms.arrived_at), _minutes(tms.departed_at)) == case.tms_visit
    else:
        assert "tms" not in visits
    assert late_ever == case.late_alert_ever
    assert bool(_alert(session, f"late_for_appointment:trip:{trip.id}")) == case.late_alert
    assert not _alert(session, f"stopped_too_long:trip:{trip.id}")

    detention = _alert(session, f"detention:visit:{gps.id}", active=False) if gps else None
    if case.detention is None:
        assert detention is None
        return
    assert detention is not None
    if case.detention == "open":
        assert detention.status == AlertStatus.OPEN
        now = T0 + timedelta(minutes=case.until)
        assert detention_minutes(gps.detention_started_at, gps.free_minutes, now) == case.billable
        held = case.until - case.gps_visit[0]
        assert detention.details["held_minutes"] == held // 10 * 10
        assert detention.details["detention_minutes"] == case.billable // 10 * 10
        assert "billable" in detention.message
    else:
        assert detention.status == AlertStatus.RESOLVED
        assert gps.detention_minutes == case.billable
        assert str(case.billable // 60) in detention.resolution
        assert detention.message.startswith("Departed Walmart DC 6094: held ")
        kinds = session.scalars(
            select(AlertDelivery.kind).where(AlertDelivery.alert_id == detention.id)
        ).all()
        assert DeliveryKind.POST in kinds and DeliveryKind.UPDATE in kinds


def test_a_growing_detention_updates_its_slack_card(session) -> None:
    case = Case("held", track=segment(0, 20, 30) + segment(20, 300, 0.1), until=0, window=(0, 1))
    case.until = 200
    trip, _, _ = _play(session, case)
    visit = session.scalars(select(StopVisit).where(StopVisit.trip_id == trip.id)).one()
    alert = _alert(session, f"detention:visit:{visit.id}")
    kinds = session.scalars(
        select(AlertDelivery.kind).where(AlertDelivery.alert_id == alert.id)
    ).all()
    # Opened past 120 min free (after 140), then grew each 10 min: 150, 160 … 200.
    assert kinds.count(DeliveryKind.POST) == 1
    assert kinds.count(DeliveryKind.UPDATE) >= 5


def test_steady_pass_reads_only_new_points_of_trucks_that_may_cross(session) -> None:
    near_truck, far_truck = make_vehicle(session), make_vehicle(session)
    for truck in (near_truck, far_truck):
        make_trip(
            session,
            vehicle=truck,
            status=TripStatus.IN_TRANSIT,
            stops=[{"latitude": STOP[0], "longitude": STOP[1]}],
        )

    def point(truck, minute: int, miles: float) -> None:
        make_location(
            session,
            vehicle=truck,
            recorded_at=T0 + timedelta(minutes=minute),
            latitude=STOP[0] + miles * MILE,
            longitude=STOP[1],
        )

    def run(minute: int) -> dict:
        now = T0 + timedelta(minutes=minute)
        return evaluate(session, now=now, types=[AlertType.DETENTION]).stop_visits

    for minute in range(0, 30, 5):
        point(near_truck, minute, 2)
        point(far_truck, minute, 200)
    first = run(30)
    assert (first["tracked"], first["positions"]) == (1, 6)  # within 5 mi: its track begins
    point(near_truck, 31, 2)
    point(far_truck, 31, 200)
    assert run(32)["tracked"] == 0  # 2 mi out of a 0.5 mi fence: nothing can change
    point(near_truck, 33, 0.1)
    third = run(34)
    # Both points since the watermark (the skipped pass did not move it).
    assert (third["tracked"], third["positions"]) == (1, 2)
    track = session.scalars(select(StopTrack)).one()
    assert track.watermark == T0 + timedelta(minutes=33) and track.streak == 1


def test_hysteresis_needs_consecutive_points_or_minutes_inside() -> None:
    fence = Fence(0.0, 0.0, 0.5)
    near, far = 0.3 * MILE, 0.7 * MILE
    state = TrackState()
    at = [T0 + timedelta(seconds=30 * i) for i in range(8)]
    flips = advance(
        state,
        [(at[0], near, 0), (at[1], far, 0), (at[2], near, 0), (at[3], near, 0)],
        fence,
        now=at[3],
        min_points=3,
        min_minutes=5,
        exit_factor=1.25,
    )
    assert flips == [] and state.streak == 2
    flips = advance(
        state, [(at[4], near, 0)], fence, now=at[4], min_points=3, min_minutes=5, exit_factor=1.25
    )
    assert [(f.kind, f.at) for f in flips] == [("arrival", at[2])]
    # A single point inside and then silence (engine off at the dock): arrival after 5 min.
    quiet = TrackState()
    flips = advance(
        quiet,
        [(at[0], near, 0)],
        fence,
        now=at[0] + timedelta(minutes=5),
        min_points=3,
        min_minutes=5,
        exit_factor=1.25,
    )
    assert [f.kind for f in flips] == ["arrival"]
    # Leaving needs points outside the wider exit fence, never the clock alone.
    flips = advance(
        quiet,
        [(at[5], 0.6 * MILE, 0), (at[6], far, 0)],
        fence,
        now=at[6] + timedelta(hours=1),
        min_points=3,
        min_minutes=5,
        exit_factor=1.25,
    )
    assert flips == [] and quiet.inside


def test_overrides_per_customer_then_facility(monkeypatch) -> None:
    from config import get_settings

    settings = get_settings()
    monkeypatch.setattr(
        settings,
        "STOP_OVERRIDES",
        {
            "customers": {"Acme Foods": {"free_minutes": 90}},
            "facilities": {"Walmart DC 6094": {"radius_miles": 1.0, "free_minutes": 180}},
        },
    )
    assert stop_rules("Some DC", "Acme Foods").free_minutes == 90
    assert stop_rules("Walmart DC 6094", "Acme Foods") == stop_rules("Walmart DC 6094", None)
    assert stop_rules("Walmart DC 6094", None).radius_miles == 1.0
    assert stop_rules(None, None).free_minutes == 120


def test_gps_stamp_survives_a_silent_tms_and_moves_the_next_stop(session) -> None:
    truck = make_vehicle(session)
    trip = make_trip(
        session,
        vehicle=truck,
        status=TripStatus.IN_TRANSIT,
        stops=[
            {"latitude": STOP[0], "longitude": STOP[1]},
            {"latitude": 29.76, "longitude": -95.37, "appointment_end": T0 + timedelta(days=1)},
        ],
    )
    for minute in range(0, 20, 5):
        make_location(
            session, vehicle=truck, recorded_at=T0 + timedelta(minutes=minute),
            latitude=STOP[0], longitude=STOP[1], speed_mph=0,
        )  # fmt: skip
    evaluate(session, now=T0 + timedelta(minutes=20), types=TYPES)
    session.expire_all()
    first = session.get(TripStop, trip.stops[0].id)
    assert first.visit_arrived_at == T0 and first.arrived_at is None  # TMS columns untouched
    trip = session.get(type(trip), trip.id)
    assert trip.eta_next_stop is not None and trip.late_risk_minutes < 0  # routed to Houston


def test_a_samsara_address_polygon_fences_its_stop(session) -> None:
    """A stop inside a Samsara address: its polygon (here ~1.4 mi across) is the fence, so a
    truck parked 0.6 mi from the stop point (outside the 0.5 mi default) has arrived."""
    from logic.ingest.samsara import write_addresses

    d = 0.01
    square = [
        {"latitude": STOP[0] + dy, "longitude": STOP[1] + dx}
        for dy, dx in ((-d, -d), (-d, d), (d, d), (d, -d))
    ]
    written = write_addresses(
        session,
        [
            {
                "id": "22408",
                "name": "Walmart DC 6094",
                "geofence": {"polygon": {"vertices": square}},
            },
            {"id": "99", "name": "no fence", "latitude": 1.0, "longitude": 1.0},
        ],
    )
    assert written.skipped == {"address: address 99 has no geofence": 1}
    truck = make_vehicle(session)
    trip = make_trip(
        session,
        vehicle=truck,
        status=TripStatus.IN_TRANSIT,
        stops=[{"latitude": STOP[0], "longitude": STOP[1]}],
    )
    for minute in range(0, 20, 5):
        make_location(
            session, vehicle=truck, recorded_at=T0 + timedelta(minutes=minute),
            latitude=STOP[0] + 0.6 * MILE, longitude=STOP[1], speed_mph=0,
        )  # fmt: skip
    evaluate(session, now=T0 + timedelta(minutes=20), types=[AlertType.DETENTION])
    visit = session.scalars(select(StopVisit).where(StopVisit.trip_id == trip.id)).one()
    assert (visit.arrived_at, visit.geofence) == (T0, "samsara:22408")


def test_the_sandbox_addresses_follow_the_samsara_contract(session) -> None:
    from logic.ingest.samsara import write_addresses
    from sandbox.lanes import CITIES
    from sandbox.samsara import _address_json

    items = [_address_json(i, c) for i, c in enumerate(CITIES[:4])]
    assert {"circle", "polygon"} == {next(iter(i["geofence"])) for i in items}
    for item in items:
        assert {"id", "name", "formattedAddress", "latitude", "longitude", "geofence"} <= set(item)
        fence = item["geofence"]
        assert "radiusMeters" in fence.get("circle", {"radiusMeters": 0})
        assert 3 <= len(fence.get("polygon", {"vertices": [0, 0, 0]})["vertices"]) < 40
    assert write_addresses(session, items).result.inserted == 4


def test_a_driver_saying_on_a_call_he_is_held_opens_a_driver_call_visit(session) -> None:
    """GPS silent, TMS silent: the driver's word on a facility check is the stop's visit, and
    the visit ends when the TMS sees the truck leave."""
    driver = make_driver(session)
    trip = make_trip(
        session,
        driver=driver,
        vehicle=make_vehicle(session),
        status=TripStatus.IN_TRANSIT,
        stops=[{"latitude": STOP[0], "longitude": STOP[1], "name": "Walmart DC 6094"}],
    )
    call = make_call(
        session,
        driver_id=driver.id,
        trip_id=trip.id,
        purpose=CallPurpose.FACILITY_CHECK,
        status=CallStatus.ENDED,
        outcome=CallOutcome.COMPLETED,
        started_at=T0 + timedelta(minutes=60),
        ended_at=T0 + timedelta(minutes=62),
        transcript=[
            {"role": "assistant", "text": "What is holding you up at the facility?"},
            {"role": "user", "text": "They still haven't loaded us, waiting to load."},
        ],
    )
    finalize_call(session, call, now=T0 + timedelta(minutes=63))
    finalize_call(session, call, now=T0 + timedelta(minutes=64))  # once per stop, not per call
    [visit] = session.scalars(select(StopVisit).where(StopVisit.trip_id == trip.id)).all()
    assert (visit.source, _minutes(visit.arrived_at), visit.departed_at) == (
        "driver_call",
        60,
        None,
    )

    stop = trip.stops[0]
    stop.arrived_at = T0 + timedelta(minutes=30)  # the TMS learns of the arrival too
    session.flush()
    evaluate(session, now=T0 + timedelta(minutes=200), types=TYPES)
    detained = select(Alert).where(Alert.type == AlertType.DETENTION, Alert.trip_id == trip.id)
    assert len(session.scalars(detained).all()) == 1  # one stop, one alert: the TMS's visit

    stop.departed_at = T0 + timedelta(minutes=240)
    stop.status = StopStatus.DEPARTED
    session.flush()
    evaluate(session, now=T0 + timedelta(minutes=250), types=TYPES)
    session.refresh(visit)
    assert (_minutes(visit.departed_at), visit.dwell_minutes) == (240, 180)
