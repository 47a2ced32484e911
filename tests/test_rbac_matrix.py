"""Role by route: each default role gets exactly the routes its permissions allow (403 for the
rest), derived from each route's own dependencies so routes added later are covered too."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from logic.auth.permissions import DEFAULT_ROLES, Permission
from tests.auth_routes import (
    accepts_service_key,
    endpoints_replaced_by_probe,
    protected_routes,
    request,
    required_permissions,
)
from tests.factories_auth import bearer_for, make_user


def _passed_auth(status: int) -> bool:
    """Auth passed: the probe endpoint answered (299), or something checked only after the
    permission failed on the dummy request — validation (422), a loader's 404, a vendor
    dependency without credentials (503). Never 401/403, and never a crash."""
    return status not in (401, 403, 500)


def _apps():
    from ingest_app import app as ingest
    from main import app as main

    return {"main": main, "ingest": ingest}


@pytest.fixture
def role_headers(session) -> dict[str, dict[str, str]]:
    headers = {
        role: bearer_for(session, make_user(session, roles=[role])) for role in DEFAULT_ROLES
    }
    headers["superuser"] = bearer_for(session, make_user(session, superuser=True))
    headers["no roles"] = bearer_for(session, make_user(session))
    session.commit()
    return headers


def _allowed(role: str, needed: set[Permission]) -> bool:
    if role == "superuser":
        return True
    granted = DEFAULT_ROLES.get(role, set())
    return needed <= granted


@pytest.mark.parametrize("app_name", ["main", "ingest"])
def test_each_role_gets_exactly_what_its_permissions_allow(app_name, role_headers):
    app = _apps()[app_name]
    client = TestClient(app, raise_server_exceptions=False)
    wrong = []
    checked = 0
    with endpoints_replaced_by_probe(app):
        for route in protected_routes(app):
            needed = required_permissions(route)
            for role, headers in role_headers.items():
                status = request(client, route, headers).status_code
                expected_allowed = _allowed(role, needed)
                ok = _passed_auth(status) if expected_allowed else status == 403
                checked += 1
                if not ok:
                    want = "allowed" if expected_allowed else "403"
                    wrong.append(
                        f"{role}: {route.label} needs {sorted(needed)} -> {status}, want {want}"
                    )
    assert checked > 0
    assert wrong == []


def test_admin_routes_are_refused_to_every_non_admin_role(role_headers):
    """The concrete promise behind the matrix: only admins manage users, roles, sessions, audit."""
    client = TestClient(_apps()["main"], raise_server_exceptions=False)
    for path in (
        "/users",
        "/admin/roles",
        "/admin/permissions",
        "/admin/sessions",
        "/admin/audit-logs",
    ):
        for role in ("dispatcher", "safety_manager", "viewer", "no roles"):
            assert client.get(path, headers=role_headers[role]).status_code == 403, (role, path)
        assert client.get(path, headers=role_headers["admin"]).status_code == 200, path


def test_service_key_passes_service_routes(session):
    headers = {"X-API-Key": "test-service-api-key"}
    found = 0
    for app in _apps().values():
        client = TestClient(app, raise_server_exceptions=False)
        with endpoints_replaced_by_probe(app):
            for route in filter(accepts_service_key, protected_routes(app)):
                found += 1
                assert _passed_auth(request(client, route, headers).status_code), route.label
    assert found > 0
