"""Auth fixtures: apps, test clients and tokens for users with given roles."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def main_app(session):
    from main import app

    return app


@pytest.fixture
def client(main_app) -> Iterator[TestClient]:
    """The main API over the per-test session (no lifespan: the run already bootstrapped)."""
    yield TestClient(main_app, raise_server_exceptions=False)
