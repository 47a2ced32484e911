"""Schemathesis against both apps, loaded from their own /openapi.json (so every route added
later is covered): no 5xx, and no response the published schema does not allow.

Bounded for `make test`: a few generated examples per operation, as an admin on the main app and
with the service key on the ingest app, inside the per-test rolled-back transaction.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ingest_app import app as ingest_app
from main import app as main_app


@schemathesis.check
def no_undocumented_server_error(ctx, response, case):
    """A 500 is always a bug; any other 5xx only where the operation documents it.

    Vendors are not configured here, so a vendor-backed route answers its documented 503.
    """
    documented = case.operation.definition.raw.get("responses", {})  # type: ignore[union-attr]
    if response.status_code == 500 or (
        response.status_code >= 500 and str(response.status_code) not in documented
    ):
        raise Failure(
            operation=case.operation.label,
            title="Server error",
            message=f"{response.status_code}: {response.text[:300]}",
        )
    return None


CHECKS = [
    no_undocumented_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
BOUNDED = settings(
    max_examples=3,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure here is a real regression
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


class WithoutLifespan:
    """The app as the other tests run it: the test run has already bootstrapped the database."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            raise RuntimeError("lifespan is not run in tests")  # the ASGI way to decline it
        await self.app(scope, receive, send)


# Fuzzing only (bounded by `max_examples`): the coverage phase alone sends ~50 requests an
# operation, which the CLI run (`schemathesis run`) is for, not `make test`.
CONFIG = SchemathesisConfig.from_dict(
    {"phases": {"coverage": {"enabled": False}, "examples": {"enabled": True}}}
)


def _schema(app):
    """The app's own published schema (what /openapi.json serves), called in-process."""
    schema = schemathesis.openapi.from_dict(app.openapi(), config=CONFIG)
    schema.app = WithoutLifespan(app)
    return schema


# Loaded at collection (conftest has set the test environment by then); one test per operation.
# (`schemathesis.pytest.from_fixture` would be lazier but does not run on pytest 9.)
main_api = _schema(main_app)
ingest_api = _schema(ingest_app)


@pytest.fixture
def admin(session, auth_headers) -> dict[str, str]:
    return auth_headers(superuser=True)


@main_api.parametrize()
@BOUNDED
def test_main_app_honours_its_schema(case, admin):
    case.call_and_validate(headers=admin, checks=CHECKS)


@ingest_api.parametrize()
@BOUNDED
def test_ingest_app_honours_its_schema(case, session):
    case.call_and_validate(headers={"X-API-Key": "test-service-api-key"}, checks=CHECKS)
