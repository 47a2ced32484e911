"""`/drivers`: list, filters, sort, paging, detail, permission checks and audited edits."""

from __future__ import annotations

import pytest
from sqlmodel import select

from logic.auth.permissions import Permission
from logic.listing import MAX_LIMIT
from models.audit_log import AuditLog
from models.driver import Driver
from tests.factories import make_driver
from tests.services.fleet_support import assert_constant_queries


@pytest.fixture
def dispatcher(auth_headers):
    return auth_headers(role="dispatcher")


def test_list_filters_search_sort_and_paginate(client, session, dispatcher) -> None:
    make_driver(session, first_name="Ann", last_name="Zed", terminal="Dallas")
    make_driver(session, first_name="Bob", last_name="Young", terminal="Dallas")
    make_driver(session, first_name="Cy", last_name="Xu", terminal="Memphis", status="inactive")
    make_driver(session, first_name="Dee", last_name="Wolf", terminal="Dallas", do_not_call=True)

    body = client.get("/drivers?terminal=Dallas&sort=-last_name", headers=dispatcher).json()
    assert [d["last_name"] for d in body["items"]] == ["Zed", "Young", "Wolf"]
    assert body["total"] == 3

    page = client.get("/drivers?terminal=Dallas&limit=2&offset=2", headers=dispatcher).json()
    assert [d["last_name"] for d in page["items"]] == ["Zed"]
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 2)

    inactive = client.get("/drivers?status=inactive", headers=dispatcher).json()
    assert [d["first_name"] for d in inactive["items"]] == ["Cy"]
    dnc = client.get("/drivers?do_not_call=true", headers=dispatcher).json()
    assert [d["first_name"] for d in dnc["items"]] == ["Dee"]
    found = client.get("/drivers?q=YOUN", headers=dispatcher).json()
    assert [d["first_name"] for d in found["items"]] == ["Bob"]
    # LIKE wildcards in the search are literal characters.
    assert client.get("/drivers?q=%25", headers=dispatcher).json()["total"] == 0


def test_list_refuses_unknown_sort_status_and_oversized_pages(client, dispatcher) -> None:
    bad_sort = client.get("/drivers?sort=password", headers=dispatcher)
    assert bad_sort.status_code == 422
    assert "cannot sort by 'password'" in bad_sort.json()["detail"]
    assert "last_name" in bad_sort.json()["detail"]
    assert client.get("/drivers?status=retired", headers=dispatcher).status_code == 422
    too_big = client.get(f"/drivers?limit={MAX_LIMIT + 1}", headers=dispatcher)
    assert too_big.status_code == 422
    assert client.get("/drivers?offset=-1", headers=dispatcher).status_code == 422


def test_list_runs_constant_queries(client, session, dispatcher, query_counter) -> None:
    make_driver(session)
    make_driver(session)

    def grow() -> None:
        for _ in range(15):
            make_driver(session)

    assert_constant_queries(client, "/drivers", dispatcher, query_counter, grow)


def test_detail_and_404(client, session, dispatcher) -> None:
    driver = make_driver(session, first_name="Ann", last_name="Lee")
    body = client.get(f"/drivers/{driver.id}", headers=dispatcher).json()
    assert body["full_name"] == "Ann Lee" and body["phone"] == "+12015550123"
    missing = client.get("/drivers/999999", headers=dispatcher)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_auth_is_required_and_permissions_enforced(client, session, auth_headers) -> None:
    driver = make_driver(session)
    assert client.get("/drivers").status_code == 401
    outsider = auth_headers(permissions=[Permission.ALERTS_READ])
    assert client.get("/drivers", headers=outsider).status_code == 403
    viewer = auth_headers(role="viewer")
    assert client.get(f"/drivers/{driver.id}", headers=viewer).status_code == 200
    edit = client.patch(f"/drivers/{driver.id}", json={"notes": "x"}, headers=viewer)
    assert edit.status_code == 403


def test_edit_normalizes_phone_and_writes_an_audit_row(client, session, dispatcher) -> None:
    driver = make_driver(session, phone=None, notes=None)
    response = client.patch(
        f"/drivers/{driver.id}",
        json={
            "phone": "(201) 555-0199 x42",
            "email": "ann@example.com",
            "timezone": "America/Denver",
            "language": "es-MX",
            "do_not_call": True,
            "notes": "prefers texts",
        },
        headers=dispatcher,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["phone"], body["phone_extension"]) == ("+12015550199", "42")
    assert body["timezone"] == "America/Denver" and body["do_not_call"] is True

    session.expire_all()
    stored = session.get(Driver, driver.id)
    assert stored.language == "es-MX" and stored.notes == "prefers texts"
    audit = session.scalars(select(AuditLog).where(AuditLog.action == "driver.update")).one()
    assert audit.resource_id == str(driver.id) and audit.actor_username
    assert audit.details["changes"]["phone"] == [None, "+12015550199"]
    assert audit.details["changes"]["do_not_call"] == [False, True]


def test_edit_without_changes_writes_no_audit_row(client, session, dispatcher) -> None:
    driver = make_driver(session, notes="same")
    response = client.patch(f"/drivers/{driver.id}", json={"notes": "same"}, headers=dispatcher)
    assert response.status_code == 200
    assert session.scalars(select(AuditLog).where(AuditLog.action == "driver.update")).all() == []


def test_clearing_the_phone_clears_the_extension(client, session, dispatcher) -> None:
    driver = make_driver(session, phone="+12015550123", phone_extension="7")
    body = client.patch(f"/drivers/{driver.id}", json={"phone": ""}, headers=dispatcher).json()
    assert body["phone"] is None and body["phone_extension"] is None


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"phone": "911"}, "not a valid phone number"),
        ({"phone": "555-555-5555"}, "not a valid phone number"),
        ({"timezone": "Mars/Olympus"}, "IANA"),
        ({"timezone": "America/Chicago "}, "IANA"),
        ({"language": "english"}, "language tag"),
        ({"email": "not-an-email"}, "email"),
        ({"first_name": "Zed"}, "owned by the vendor"),
        ({"samsara_id": "x", "status": "inactive"}, "samsara_id, status are owned"),
        ({"favourite_colour": "red"}, "Extra inputs"),
    ],
)
def test_edit_validation_errors(client, session, dispatcher, payload, message) -> None:
    driver = make_driver(session)
    response = client.patch(f"/drivers/{driver.id}", json=payload, headers=dispatcher)
    assert response.status_code == 422
    assert message in response.text
    session.expire_all()
    assert session.get(Driver, driver.id).first_name == "Dana"


def test_null_for_a_required_preference_is_refused(client, session, dispatcher) -> None:
    driver = make_driver(session)
    response = client.patch(f"/drivers/{driver.id}", json={"language": None}, headers=dispatcher)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["loc"] == ["body", "language"] and error["type"] == "null_not_allowed"
    assert error["msg"] == "language may be left out but cannot be null"


def test_edit_unknown_driver_is_404(client, dispatcher) -> None:
    assert (
        client.patch("/drivers/999999", json={"notes": "x"}, headers=dispatcher).status_code == 404
    )
