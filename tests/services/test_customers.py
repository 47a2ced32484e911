"""Customers and contacts: admin CRUD with pages, clear 4xx on bad input, one audit row per
change (never the contact's address), and the customers:read / customers:write permissions."""

from __future__ import annotations

import pytest
from sqlmodel import select

from models.audit_log import AuditLog
from tests.factories import make_trip


@pytest.fixture
def admin(auth_headers):
    return auth_headers(role="admin")


def _customer(client, headers, name="Acme Foods") -> dict:
    response = client.post("/customers", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_list_rename_and_delete_a_customer(client, session, admin):
    created = _customer(client, admin, "  Blue   Ridge Logistics ")
    assert created["name"] == "Blue Ridge Logistics" and created["key"] == "blue ridge logistics"
    _customer(client, admin, "Acme Foods")
    page = client.get("/customers", params={"limit": 1}, headers=admin).json()
    assert page["total"] == 2 and [c["name"] for c in page["items"]] == ["Acme Foods"]
    found = client.get("/customers", params={"q": "ridge"}, headers=admin).json()
    assert [c["id"] for c in found["items"]] == [created["id"]]

    renamed = client.patch(
        f"/customers/{created['id']}", json={"name": "Blue Ridge Freight"}, headers=admin
    )
    assert renamed.status_code == 200 and renamed.json()["key"] == "blue ridge freight"
    assert client.delete(f"/customers/{created['id']}", headers=admin).status_code == 204
    assert client.get(f"/customers/{created['id']}", headers=admin).status_code == 404
    actions = session.exec(
        select(AuditLog.action).where(AuditLog.resource_type == "customer").order_by(AuditLog.id)
    ).all()
    assert actions == ["customer.create", "customer.create", "customer.update", "customer.delete"]


def test_same_name_in_another_spelling_is_a_409(client, admin):
    _customer(client, admin, "Acme Foods")
    again = client.post("/customers", json={"name": "ACME  foods"}, headers=admin)
    assert again.status_code == 409 and again.json()["error"] == "conflict"


def test_bad_input_is_a_clear_422(client, admin):
    blank = client.post("/customers", json={"name": "   "}, headers=admin)
    assert blank.status_code == 422 and "name" in blank.text
    unknown = client.post("/customers", json={"name": "X", "color": "red"}, headers=admin)
    assert unknown.status_code == 422
    customer = _customer(client, admin)
    bad = client.post(
        f"/customers/{customer['id']}/contacts",
        json={"name": "Ana", "email": "not-an-address", "notices": ["eta", "gossip"]},
        headers=admin,
    )
    assert bad.status_code == 422
    fields = {tuple(e["loc"]) for e in bad.json()["errors"]}
    assert ("body", "email") in fields and any(f[:2] == ("body", "notices") for f in fields)
    null = client.patch(
        f"/customers/{customer['id']}/contacts/1", json={"email": None}, headers=admin
    )
    assert null.status_code == 422


def test_a_customer_on_trips_cannot_be_deleted(client, session, admin):
    customer = _customer(client, admin)
    make_trip(session, customer="Acme Foods", customer_id=customer["id"])
    session.commit()
    refused = client.delete(f"/customers/{customer['id']}", headers=admin)
    assert refused.status_code == 409 and "1 trips" in refused.json()["detail"]


def test_contacts_crud_audited_without_the_address(client, session, admin):
    customer = _customer(client, admin)
    base = f"/customers/{customer['id']}/contacts"
    made = client.post(base, json={"name": "Ana Ruiz", "email": " ana@acme.test "}, headers=admin)
    assert made.status_code == 201, made.text
    contact = made.json()
    assert contact["email"] == "ana@acme.test"
    assert contact["notices"] == ["eta", "arrived", "departed", "detention", "delivered"]
    dup = client.post(base, json={"name": "Ana", "email": "ana@acme.test"}, headers=admin)
    assert dup.status_code == 409
    changed = client.patch(
        f"{base}/{contact['id']}", json={"notices": ["delivered", "eta"]}, headers=admin
    )
    assert changed.status_code == 200 and changed.json()["notices"] == ["eta", "delivered"]
    listed = client.get(base, headers=admin).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == contact["id"]
    assert client.delete(f"{base}/{contact['id']}", headers=admin).status_code == 204
    assert client.get(base, headers=admin).json()["total"] == 0
    rows = session.exec(
        select(AuditLog).where(AuditLog.action.like("customer.contact_%")).order_by(AuditLog.id)
    ).all()
    assert [r.action for r in rows] == [
        "customer.contact_create",
        "customer.contact_update",
        "customer.contact_delete",
    ]
    assert all("ana@acme.test" not in repr(r.details) for r in rows)


def test_a_contact_of_another_customer_is_not_found_through_this_one(client, admin):
    one, other = _customer(client, admin, "One"), _customer(client, admin, "Other")
    contact = client.post(
        f"/customers/{one['id']}/contacts", json={"name": "A", "email": "a@one.test"}, headers=admin
    ).json()
    wrong = client.patch(
        f"/customers/{other['id']}/contacts/{contact['id']}", json={"name": "B"}, headers=admin
    )
    assert wrong.status_code == 404


def test_dispatchers_read_customers_and_only_admins_change_them(client, auth_headers, admin):
    customer = _customer(client, admin)
    dispatcher, viewer = auth_headers(role="dispatcher"), auth_headers(role="viewer")
    assert client.get("/customers").status_code == 401
    assert client.get("/customers", headers=dispatcher).status_code == 200
    assert client.get("/customers", headers=viewer).status_code == 403
    assert client.post("/customers", json={"name": "X"}, headers=dispatcher).status_code == 403
    assert (
        client.get(f"/customers/{customer['id']}/contacts", headers=dispatcher).status_code == 200
    )
