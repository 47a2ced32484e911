"""`POST /warehouse/export` on the ingest app: service key or `warehouse:export`, one run per
table, 502 with every run when a table fails, 503 when no project is configured."""

from __future__ import annotations

import os

import pytest
from fastapi.testclient import TestClient
from google.cloud.bigquery import SchemaField

from config import get_settings
from logic.auth.permissions import Permission
from logic.warehouse.tables import TABLES
from tests.ingest_support import API_KEY
from tests.logic.warehouse.support import bq_fixture, make_fleet, warehouse_rows  # noqa: F401


@pytest.fixture
def ingest_client(session) -> TestClient:
    from ingest_app import app

    return TestClient(app, raise_server_exceptions=False)


def test_the_service_key_exports_every_table(ingest_client, session, bq):
    make_fleet(session)

    response = ingest_client.post("/warehouse/export", headers=API_KEY)

    assert response.status_code == 200, response.text
    body = response.json()
    assert [run["entity"] for run in body["runs"]] == list(TABLES)
    assert {run["trigger"] for run in body["runs"]} == {"api-key"}
    assert len(warehouse_rows(bq, "alerts")) == 2
    again = ingest_client.post("/warehouse/export", headers=API_KEY, params={"table": "alerts"})
    assert [(r["entity"], r["fetched"]) for r in again.json()["runs"]] == [("alerts", 0)]


def test_auth_rules_and_unknown_tables(ingest_client, auth_headers, bq):
    path = "/warehouse/export"
    assert ingest_client.post(path).status_code == 401
    assert ingest_client.post(path, headers={"X-API-Key": "wrong"}).status_code == 401
    assert ingest_client.post(path, headers=auth_headers("safety_manager")).status_code == 403
    exporter = auth_headers(permissions=[Permission.WAREHOUSE_EXPORT])
    response = ingest_client.post(path, headers=exporter, params={"table": "trips"})
    assert response.status_code == 200 and response.json()["runs"][0]["trigger"] == "user"
    unknown = ingest_client.post(path, headers=API_KEY, params={"table": "planets"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"


def test_a_failed_table_is_a_502_carrying_every_run(ingest_client, session, bq, monkeypatch):
    make_fleet(session)
    # BigQuery refuses the rows: the schema file says `customer` is an INTEGER.
    drifted = [
        {**f, "type": "INTEGER"} if f["name"] == "customer" else f for f in TABLES["trips"].schema
    ]
    monkeypatch.setattr(
        "logic.warehouse.bigquery.schema_fields",
        lambda table: [SchemaField.from_api_repr(field) for field in drifted],
    )

    response = ingest_client.post("/warehouse/export", headers=API_KEY, params={"table": "trips"})

    assert response.status_code == 502
    body = response.json()
    assert body["error"] == "warehouse_export_failed"
    assert body["runs"][0]["status"] == "failed"
    assert "Could not convert value 'Acme Foods' to integer" in body["runs"][0]["error"]


def test_no_project_is_a_503(ingest_client, bq, monkeypatch):
    monkeypatch.setitem(os.environ, "GOOGLE_CLOUD_PROJECT", "")
    get_settings.cache_clear()
    response = ingest_client.post("/warehouse/export", headers=API_KEY)
    assert response.status_code == 503 and response.json()["error"] == "upstream_not_configured"
