"""The ingest app's triggers and run ledger, and the main app's read-only ingest view."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from logic.auth.permissions import Permission
from logic.ingest.runner import start_run
from models.ingest import IngestRun
from tests.ingest_support import API_KEY, counts, fleet_fixture  # noqa: F401


@pytest.fixture
def ingest_client(session) -> TestClient:
    from ingest_app import app

    return TestClient(app, raise_server_exceptions=False)


def test_api_key_runs_an_ingest_and_returns_the_summary(
    ingest_client: TestClient, session: Session, fleet
) -> None:
    response = ingest_client.post("/ingest/samsara/vehicles", headers=API_KEY)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "succeeded" and body["trigger"] == "api-key"
    assert body["fetched"] == body["inserted"] == counts(session)["vehicle"] > 0
    assert body["duration_ms"] is not None and body["triggered_by"] == "service"

    listed = ingest_client.get("/ingest/runs", headers=API_KEY, params={"entity": "vehicles"})
    assert [r["id"] for r in listed.json()["items"]] == [body["id"]]
    one = ingest_client.get(f"/ingest/runs/{body['id']}", headers=API_KEY)
    assert one.json()["inserted"] == body["inserted"]
    assert ingest_client.get("/ingest/runs/999999", headers=API_KEY).status_code == 404


def test_auth_rules(ingest_client: TestClient, auth_headers, fleet) -> None:
    path = "/ingest/ditat/trailers"
    assert ingest_client.post(path).status_code == 401
    assert ingest_client.post(path, headers={"X-API-Key": "wrong"}).status_code == 401
    viewer = auth_headers("viewer")  # may read ingest, may not run it
    assert ingest_client.post(path, headers=viewer).status_code == 403
    assert ingest_client.get("/ingest/runs", headers=viewer).status_code == 403
    runner = auth_headers(permissions=[Permission.INGEST_RUN])
    response = ingest_client.post(path, headers=runner)
    assert response.status_code == 200 and response.json()["trigger"] == "user"


def test_unknown_entity_is_422(ingest_client: TestClient) -> None:
    assert ingest_client.post("/ingest/samsara/planets", headers=API_KEY).status_code == 422


def test_background_answers_202_with_the_run_id(
    ingest_client: TestClient, session: Session, fleet
) -> None:
    response = ingest_client.post(
        "/ingest/ditat/drivers", headers=API_KEY, params={"background": "true"}
    )
    assert response.status_code == 202
    run_id = response.json()["run_id"]
    # TestClient runs background tasks before returning; the run has finished by now.
    run = ingest_client.get(f"/ingest/runs/{run_id}", headers=API_KEY).json()
    assert run["status"] == "succeeded" and run["inserted"] == counts(session)["driver"]


def test_failed_run_is_502_with_the_recorded_error(ingest_client: TestClient, fleet) -> None:
    fleet.fault("ditat", "malformed", count=6)  # login, then every attempt of the lookup
    response = ingest_client.post("/ingest/ditat/trucks", headers=API_KEY)
    assert response.status_code == 502
    body = response.json()
    assert body["error"] == "ingest_failed" and body["run"]["status"] == "failed"
    assert body["detail"] == body["run"]["error"] and "ditat" in body["detail"]


def test_all_runs_every_entity(ingest_client: TestClient, session: Session, fleet) -> None:
    response = ingest_client.post("/ingest/ditat/all", headers=API_KEY)
    assert response.status_code == 200
    body = response.json()
    assert [r["entity"] for r in body["runs"]] == ["drivers", "trucks", "trailers", "trips"]
    assert body["conflicts"] == []
    assert counts(session)["trip"] > 0


def test_concurrent_trigger_is_409_naming_the_running_run(committed_db, fleet) -> None:
    from ingest_app import app

    client = TestClient(app, raise_server_exceptions=False)
    holder = start_run("samsara", "locations")  # another instance, on its own connection
    try:
        response = client.post("/ingest/samsara/locations", headers=API_KEY)
        assert response.status_code == 409
        body = response.json()
        assert body["error"] == "ingest_running"
        assert body["running_run_id"] == holder.run_id
        assert f"run {holder.run_id}" in body["detail"]
        other = client.post("/ingest/samsara/vehicles", headers=API_KEY)
        assert other.status_code == 200  # other entities are not blocked
    finally:
        holder.finish()
    assert client.post("/ingest/samsara/locations", headers=API_KEY).status_code == 200


def test_main_app_read_only_view_and_freshness(
    client: TestClient, ingest_client: TestClient, session: Session, auth_headers, fleet
) -> None:
    ingest_client.post("/ingest/samsara/vehicles", headers=API_KEY)
    viewer = auth_headers("viewer")
    runs = client.get("/ingest-runs", headers=viewer)
    assert runs.status_code == 200 and runs.json()["items"][0]["entity"] == "vehicles"
    status = client.get("/ingest-runs/status", headers=viewer).json()
    vehicles = next(
        e for e in status["entities"] if (e["source"], e["entity"]) == ("samsara", "vehicles")
    )
    assert vehicles["records"] == counts(session)["vehicle"]
    assert vehicles["last_success_run_id"] is not None and vehicles["lag_seconds"] >= 0
    never = next(e for e in status["entities"] if e["entity"] == "trips")
    assert never["last_success_at"] is None and never["lag_seconds"] is None
    assert client.get("/ingest-runs/status").status_code == 401
    assert client.get("/ingest-runs", headers=auth_headers(permissions=[])).status_code == 403
    assert client.post("/ingest-runs", headers=viewer).status_code == 405
    assert session.get(IngestRun, runs.json()["items"][0]["id"]) is not None


def test_a_run_that_changed_data_triggers_an_alert_evaluation(
    ingest_client: TestClient, session: Session, fleet
) -> None:
    """Evaluation runs after each successful ingest run (as a task after the response)."""
    from datetime import timedelta

    from sqlmodel import select

    from helpers.time_utils import utc_now
    from models.alert import Alert
    from tests.factories import make_driver, make_location, make_trip, make_vehicle

    truck = make_vehicle(session, unit_number="GPS-LOST")
    make_location(session, vehicle=truck, recorded_at=utc_now() - timedelta(hours=3))
    make_trip(session, driver=make_driver(session), vehicle=truck, status="in_transit", stops=2)
    session.commit()

    first = ingest_client.post("/ingest/ditat/trailers", headers=API_KEY)
    assert first.status_code == 200 and first.json()["inserted"] > 0
    alerts = session.exec(select(Alert).where(Alert.vehicle_id == truck.id)).all()
    assert [a.type for a in alerts] == ["gps_stale"]


def test_a_run_that_changed_nothing_does_not_evaluate(
    ingest_client: TestClient, session: Session, fleet
) -> None:
    from logic.ingest.jobs import evaluate_alerts_after
    from models.ingest import IngestRunPublic

    ingest_client.post("/ingest/ditat/trailers", headers=API_KEY)
    again = IngestRunPublic.model_validate(
        ingest_client.post("/ingest/ditat/trailers", headers=API_KEY).json()
    )
    assert again.inserted == again.updated == 0
    assert evaluate_alerts_after(again) is False
    failed = again.model_copy(update={"status": "failed", "inserted": 3})
    assert evaluate_alerts_after(failed) is False
