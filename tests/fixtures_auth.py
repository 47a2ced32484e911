"""Auth fixtures: apps, test clients and tokens for users with given roles."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from helpers import background_batches
from logic.auth.permissions import Permission


@pytest.fixture
def main_app(session):
    from main import app

    return app


class SettledTestClient(TestClient):
    """Returns once the work a request handed off (webhook processing) is done too: a test
    reads the effects next, on the one connection every session of the test shares."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        response = super().request(*args, **kwargs)
        assert background_batches.settle(timeout=30.0), "handed-off work did not finish"
        return response


@pytest.fixture
def client(main_app) -> Iterator[TestClient]:
    """The main API over the per-test session (no lifespan: the run already bootstrapped)."""
    yield SettledTestClient(main_app, raise_server_exceptions=False)


@pytest.fixture
def auth_headers(session) -> Callable[..., dict[str, str]]:
    """Factory: `auth_headers(role="dispatcher")`, `auth_headers(superuser=True)`,
    `auth_headers(permissions=[Permission.TRIPS_READ])` → `{"Authorization": "Bearer …"}`.

    Each call creates a fresh user and opens a real session for it through the login service's
    session code (no password hashing per call).
    """
    from tests.factories_auth import bearer_for, make_user

    def factory(
        role: str | None = None,
        *,
        superuser: bool = False,
        permissions: Iterable[Permission | str] | None = None,
        roles: Iterable[str] = (),
    ) -> dict[str, str]:
        names = [*roles, *([role] if role else [])]
        user = make_user(session, roles=names, permissions=permissions, superuser=superuser)
        headers = bearer_for(session, user)
        session.commit()
        return headers

    return factory
