"""Samsara's own example payloads (its published WireMock stubs, trimmed and copied inline)
replayed at our client and ingest: spec labels and their severities, a stuck cursor, an
out-of-range coordinate on a record whose location is optional, and 5 req/s pacing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from sqlmodel import Session, select

from logic.ingest import samsara
from logic.ingest.runner import execute, start_run
from models.hos import HosLog
from models.safety_event import SafetyEvent, Severity
from utils.http import VendorResponseError
from utils.samsara_client import SamsaraClient

# GET /fleet/safety-events, as Samsara's stub answers it (video URLs dropped): note the latitude
# of 122.142 and a cursor that never moves on.
LEGACY_SAFETY_EVENTS = {
    "data": [
        {
            "behaviorLabels": [
                {"label": "genericTailgating", "name": "Tailgating", "source": "automated"}
            ],
            "coachingState": "needsReview",
            "driver": {"id": "88668", "name": "Susan Bob"},
            "id": "212014918174029-1550954461759",
            "location": {"latitude": 122.142, "longitude": -93.343},
            "maxAccelerationGForce": 0.123,
            "time": "2019-06-13T19:08:25.455Z",
            "vehicle": {
                "ExternalIds": {"maintenanceId": "250020", "payrollId": "ABFS18600"},
                "id": "123456789",
                "name": "Midwest Truck #4",
            },
        }
    ],
    "pagination": {"endCursor": "MjkY", "hasNextPage": True},
}

# GET /fleet/hos/logs, as the stub answers it.
HOS_LOGS = {
    "data": [
        {
            "driver": {"id": "88668", "name": "Susan Bob"},
            "hosLogs": [
                {
                    "logEndTime": "2020-01-27T07:06:25Z",
                    "logRecordedLocation": {"latitude": 122.142, "longitude": -93.343},
                    "logStartTime": "2020-01-27T07:06:25Z",
                    "remark": "Lunch Break",
                }
            ],
        }
    ],
    "pagination": {"endCursor": "MjkY", "hasNextPage": True},
}


# GET /safety-events/stream, two events as the stub and its sibling /safety-events answer them
# (trimmed): one label object empty, one label capitalised.
SAFETY_EVENTS_STREAM = {
    "data": [
        {
            "asset": {"id": "bb2ff5ab", "name": "MyAsset-1234", "vin": "1GBJ6P1B2HV112765"},
            "behaviorLabels": [{}],
            "driver": {"id": "0987", "name": "Driver Name"},
            "endMs": "2023-01-27T07:06:25Z",
            "eventState": "unknown",
            "id": "bb2ff5ab-30ad-49ec-9d2d-55ec30bbf590",
            "location": {"latitude": 37.7749, "longitude": 137.2719},
            "maxAccelerationGForce": 1,
            "startMs": "2023-01-27T07:01:25Z",
            "updatedAtTime": "2023-01-27T10:04:20Z",
        },
        {
            "behaviorLabels": [{"label": "Acceleration", "source": "automated"}],
            "id": "6caeb9c0-7e3d-49ae-a015-45c2f68fed4c",
            "startMs": "2023-01-27T07:01:25Z",
        },
    ],
    "pagination": {"endCursor": "MjkY", "hasNextPage": True},
}


class Replay:
    """Answers every GET with one canned Samsara body and records what was asked."""

    def __init__(self, body: dict) -> None:
        self.body = body
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, content=json.dumps(self.body).encode())


def _client(replay: Replay, **options) -> SamsaraClient:
    http = httpx.Client(base_url="https://api.samsara.test", transport=httpx.MockTransport(replay))
    return SamsaraClient(http, token="t", retry_wait=0.001, **{"paced_rate": 0, **options})


@pytest.mark.parametrize(
    ("labels", "max_g", "expected"),
    [
        (["braking"], 0.3, Severity.MEDIUM),
        (["Braking"], 0.3, Severity.MEDIUM),  # v2's own example spells it "Acceleration"
        (["acceleration"], None, Severity.MEDIUM),
        (["harshTurn"], None, Severity.MEDIUM),
        (["speeding"], None, Severity.MEDIUM),
        (["nearCollison"], None, Severity.HIGH),  # Samsara's spelling
        (["NEARCOLLISION"], None, Severity.HIGH),
        (["crash", "braking"], None, Severity.CRITICAL),
        (["braking"], 0.6, Severity.HIGH),
        (["rollingStop"], None, Severity.LOW),
        (["aLabelSamsaraAddsNextYear"], None, Severity.LOW),
    ],
)
def test_spec_labels_map_to_severities_whatever_their_case(labels, max_g, expected) -> None:
    assert samsara.severity_for(labels, max_g) == expected


def test_stuck_cursor_stops_with_a_clear_error_after_one_page() -> None:
    replay = Replay(LEGACY_SAFETY_EVENTS)
    pages = _client(replay).pages("/fleet/safety-events", {"startTime": "a", "endTime": "b"})

    data, cursor, more = next(pages)
    assert (len(data), cursor, more) == (1, "MjkY", True)
    with pytest.raises(VendorResponseError, match="stuck: endCursor 'MjkY' came back again"):
        next(pages)
    assert [r.url.params.get("after") for r in replay.requests] == [None, "MjkY"]


def test_empty_pages_may_repeat_their_cursor_a_few_times_not_forever() -> None:
    replay = Replay({"data": [], "pagination": {"endCursor": "same", "hasNextPage": True}})
    with pytest.raises(VendorResponseError, match="stuck"):
        list(_client(replay).pages("/fleet/vehicles"))
    assert len(replay.requests) == 4  # the first page, then three empty repeats


def test_hos_and_safety_endpoints_are_paced_to_five_requests_a_second() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        now[0] += seconds

    replay = Replay({"data": [], "pagination": {"endCursor": "", "hasNextPage": False}})
    client = _client(replay, paced_rate=5.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        client.get("/fleet/hos/logs")
    client.get("/fleet/vehicles")  # not a 5 req/s endpoint: never waits
    now[0] += 1.0  # a second later the slot is free again
    client.get("/fleet/hos/logs")
    client.get("/fleet/safety-events")
    client.get("/fleet/safety-events")

    assert slept == [0.2, 0.2, 0.2]


def test_safety_event_example_is_kept_without_its_location_and_paging_fails_clearly(
    session: Session,
) -> None:
    summary = execute(
        start_run("samsara", "safety-events"),
        lambda run: samsara.ingest_safety_events(run, _client(Replay(LEGACY_SAFETY_EVENTS))),
    )

    assert summary.status == "failed" and "pagination of /fleet/safety-events is stuck" in (
        summary.error or ""
    )
    assert summary.pages == 1 and summary.skipped == 0
    assert summary.bad_fields == {"safety event location: latitude out of range": 1}
    event = session.exec(select(SafetyEvent)).one()
    assert event.samsara_id == "212014918174029-1550954461759"
    assert (event.latitude, event.longitude) == (None, None)
    assert event.behavior_labels == ["genericTailgating"]
    assert event.severity == Severity.MEDIUM


def test_hos_log_example_is_kept_without_its_location(session: Session) -> None:
    summary = execute(
        start_run("samsara", "hos-logs"),
        lambda run: samsara.ingest_hos_logs(run, _client(Replay(HOS_LOGS))),
    )

    assert summary.pages == 1 and summary.skipped == 0
    assert summary.bad_fields == {"hos log logRecordedLocation: latitude out of range": 1}
    log = session.exec(select(HosLog)).one()
    assert (log.latitude, log.longitude, log.remark) == (None, None, "Lunch Break")


def test_stream_example_parses_and_its_labels_grade_case_blind() -> None:
    pages = _client(Replay(SAFETY_EVENTS_STREAM)).safety_events_stream(
        datetime(2023, 1, 27, tzinfo=UTC)
    )
    page = next(pages)
    empty, accel = page.items
    assert [lb.label for lb in empty.behavior_labels] == [None]
    assert [lb.label for lb in accel.behavior_labels] == ["Acceleration"]
    assert samsara.severity_for(["Acceleration"], None) == Severity.MEDIUM
    with pytest.raises(VendorResponseError, match="stuck"):
        next(pages)
