"""The client address behind FORWARDED_HOPS proxies: the caller cannot choose its own."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient

from config import Settings
from services.http.app_factory import build_app

probe = APIRouter()


@probe.get("/whoami")
async def whoami(request: Request) -> dict[str, str | None]:
    return {"client": request.client.host if request.client else None, "scheme": request.url.scheme}


def _client(hops: int) -> TestClient:
    settings = Settings(FORWARDED_HOPS=hops)
    return TestClient(build_app(title="forwarded", routers=[probe], settings=settings))


@pytest.mark.parametrize(
    ("hops", "headers", "client", "scheme"),
    [
        # The caller wrote 6.6.6.6; the front end appended what it saw.
        (1, {"X-Forwarded-For": "6.6.6.6, 203.0.113.7", "X-Forwarded-Proto": "http, https"},
         "203.0.113.7", "https"),
        (1, {"X-Forwarded-For": "203.0.113.7"}, "203.0.113.7", "http"),
        (2, {"X-Forwarded-For": "6.6.6.6, 198.51.100.2, 203.0.113.7"}, "198.51.100.2", "http"),
        (2, {"X-Forwarded-For": "203.0.113.7"}, "testclient", "http"),  # fewer hops than set
        (1, {"X-Forwarded-For": "6.6.6.6, unknown"}, "testclient", "http"),  # not an address
        (1, {}, "testclient", "http"),
        (0, {"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https"}, "testclient", "http"),
    ],
)  # fmt: skip
def test_the_client_is_the_entry_hops_from_the_right(hops, headers, client, scheme):
    answer = _client(hops).get("/whoami", headers=headers).json()
    assert answer == {"client": client, "scheme": scheme}


def test_repeated_headers_count_as_one_list():
    headers = [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "203.0.113.7")]
    assert _client(1).get("/whoami", headers=headers).json()["client"] == "203.0.113.7"
