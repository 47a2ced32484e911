"""`/admin/audit-logs`: filters, pagination and a CSV export that spreadsheets read safely."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from sqlmodel import select

from helpers.time_utils import utc_now
from logic.auth import audit
from models.audit_log import AuditLog
from tests.factories_auth import bearer_for, make_user


def _auditor(session):
    user = make_user(session, username="auditor", roles=["admin"])
    headers = bearer_for(session, user)
    return user, headers


def _seed(session, actor):
    base = utc_now() - timedelta(hours=3)
    rows = [
        ("auth.login_succeeded", "session", "s1", {}, base),
        ("auth.login_failed", "user", "7", {"reason": "bad_password"}, base + timedelta(hours=1)),
        (
            "user.created",
            "user",
            "8",
            {"username": '=HYPERLINK("http://x")'},
            base + timedelta(hours=2),
        ),
    ]
    for action, rtype, rid, details, when in rows:
        row = audit.record(
            session, action, actor=actor, resource_type=rtype, resource_id=rid, details=details
        )
        row.occurred_at = when
    session.commit()
    return base


def test_filters_and_pagination(client, session):
    actor, headers = _auditor(session)
    base = _seed(session, actor)
    mine = {"actor": "AUDITOR"}
    page = client.get("/admin/audit-logs", headers=headers, params=mine | {"limit": 2}).json()
    assert page["total"] == 3 and len(page["items"]) == 2
    assert page["items"][0]["action"] == "user.created"  # newest first
    auth_only = client.get(
        "/admin/audit-logs", headers=headers, params=mine | {"action": "auth."}
    ).json()
    assert {r["action"] for r in auth_only["items"]} == {
        "auth.login_succeeded",
        "auth.login_failed",
    }
    exact = client.get(
        "/admin/audit-logs", headers=headers, params={"action": "auth.login_failed"}
    ).json()
    assert [r["details"] for r in exact["items"]] == [{"reason": "bad_password"}]
    window = {
        "since": (base + timedelta(minutes=30)).isoformat(),
        "until": (base + timedelta(minutes=90)).isoformat(),
    }
    timed = client.get("/admin/audit-logs", headers=headers, params=mine | window).json()
    assert [r["action"] for r in timed["items"]] == ["auth.login_failed"]
    resource = client.get(
        "/admin/audit-logs", headers=headers, params={"resource_type": "user", "resource_id": "8"}
    ).json()
    assert [r["action"] for r in resource["items"]] == ["user.created"]
    by_id = client.get(
        "/admin/audit-logs", headers=headers, params={"actor_user_id": actor.id}
    ).json()
    assert by_id["total"] == 3


def test_csv_export_is_valid_and_neutralizes_formulas(client, session):
    actor, headers = _auditor(session)
    _seed(session, actor)
    response = client.get("/admin/audit-logs/export", headers=headers, params={"actor": "auditor"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["action"] for r in rows] == [
        "auth.login_succeeded",
        "auth.login_failed",
        "user.created",
    ]
    assert rows[1]["details"] == json.dumps({"reason": "bad_password"})
    assert rows[2]["details"].startswith("{")  # JSON cell, formula inside is inert
    assert all(r["actor_username"] == "auditor" for r in rows)
    exported = session.exec(select(AuditLog).where(AuditLog.action == "audit.exported")).one()
    assert exported.details == {"filters": {"actor": "auditor"}}


def test_csv_cell_starting_with_a_formula_is_prefixed(client, session):
    _, headers = _auditor(session)
    audit.record(session, "user.created", actor_label="=cmd|' /C calc'!A0", resource_type="user")
    session.commit()
    response = client.get(
        "/admin/audit-logs/export", headers=headers, params={"action": "user.created"}
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows[0]["actor_username"] == "'=cmd|' /C calc'!A0"


def test_audit_requires_admin_audit(client, auth_headers):
    assert (
        client.get("/admin/audit-logs", headers=auth_headers(role="safety_manager")).status_code
        == 403
    )
    assert (
        client.get("/admin/audit-logs/export", headers=auth_headers(role="viewer")).status_code
        == 403
    )


def test_bad_ranges_and_offsets_are_422(client, auth_headers):
    admin = auth_headers(superuser=True)
    inverted = client.get(
        "/admin/audit-logs",
        params={"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
        headers=admin,
    )
    assert inverted.status_code == 422 and "since/until" in inverted.text
    for path in ("/admin/audit-logs", "/users", "/admin/sessions"):
        assert client.get(path, params={"offset": 10**9}, headers=admin).status_code == 422
