"""The HTTP edge: unstorable text refused in one place, body limits, short validation errors, and
connections that stay usable after a 500 (over a real uvicorn server)."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from typing import Annotated, Any

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, Body, Form, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field
from sqlalchemy import text

from config import get_settings
from services.deps import SessionDep
from services.http.app_factory import build_app
from services.http.errors import MAX_ECHOED_INPUT_CHARS
from tests.factories import make_trip
from tests.fixtures_sandbox import _free_port

edge = APIRouter(prefix="/edge")


class Note(BaseModel):
    notes: str = Field(max_length=20)


@edge.post("/notes")
def post_note(body: Note) -> Note:
    """Echo a note."""
    return body


@edge.post("/free-form")
def post_free_form(body: Annotated[dict[str, Any], Body()]) -> dict[str, int]:
    """Count a free-form document's keys."""
    return {"keys": len(body)}


@edge.post("/form")
def post_form(username: Annotated[str, Form()]) -> dict[str, str]:
    """Echo a form field."""
    return {"username": username}


@edge.get("/search")
def search(q: str = "") -> dict[str, str]:
    """Echo a query parameter."""
    return {"q": q}


@edge.get("/boom")
def boom() -> None:
    """Fail unexpectedly."""
    raise RuntimeError("unexpected")


@edge.post("/store-number")
def store_number(n: int, session: SessionDep) -> dict[str, int]:
    """Bind a number as an integer column would (a 32-bit cast on PostgreSQL)."""
    cast = "CAST(:n AS integer)" if session.get_bind().dialect.name == "postgresql" else ":n"
    return {"n": session.execute(text(f"SELECT {cast}"), {"n": n}).scalar_one()}


webhooks = APIRouter(prefix="/webhooks")


@webhooks.post("/probe")
async def webhook_probe(request: Request) -> dict[str, int]:
    """Count a vendor's bytes."""
    return {"bytes": len(await request.body())}


LIMIT = 2_000
WEBHOOK_LIMIT = 8_000


def _edge_app():
    settings = get_settings().model_copy(
        update={"MAX_REQUEST_BODY_BYTES": LIMIT, "MAX_WEBHOOK_BODY_BYTES": WEBHOOK_LIMIT}
    )
    return build_app(title="edge", routers=[edge, webhooks], settings=settings)


@pytest.fixture
def edge_client() -> TestClient:
    return TestClient(_edge_app(), raise_server_exceptions=False)


def _post_json(client: TestClient, path: str, document: Any, **kwargs: Any) -> httpx.Response:
    """JSON as a client escapes it (`\\ud800` stays an escape; httpx cannot encode it raw)."""
    headers = {"content-type": "application/json", **kwargs.pop("headers", {})}
    return client.request(
        kwargs.pop("method", "POST"), path, content=json.dumps(document), headers=headers
    )


def _assert_unstorable(response: httpx.Response, loc: list[Any]) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_error"
    assert body["errors"][0]["loc"] == loc
    assert body["errors"][0]["type"] == "unstorable_text"


@pytest.mark.parametrize(
    ("send", "loc"),
    [
        (lambda c: c.get("/edge/search?q=a%00b"), ["query", "q"]),
        (lambda c: c.post("/edge/form", data={"username": "ad\x00min"}), ["body", "username"]),
        (lambda c: _post_json(c, "/edge/notes", {"notes": "a\x00b"}), ["body", "notes"]),
        (lambda c: _post_json(c, "/edge/notes", {"notes": "\ud800x"}), ["body", "notes"]),
        (lambda c: _post_json(c, "/edge/free-form", {"a\x00": 1}), ["body", "a\ufffd"]),
        (
            lambda c: _post_json(c, "/edge/free-form", {"k": [{"deep": "\udfff"}]}),
            ["body", "k", 0, "deep"],
        ),
        (
            lambda c: c.post(
                "/edge/notes",
                content=b'{"notes": "a\xed\xa0\x80"}',  # a raw surrogate sequence
                headers={"content-type": "application/json"},
            ),
            ["body", "notes"],
        ),
    ],
    ids=["query", "form", "json-nul", "json-surrogate", "json-key", "nested", "raw-surrogate"],
)
def test_unstorable_text_is_a_422_wherever_it_hides(edge_client, send, loc):
    _assert_unstorable(send(edge_client), loc)


def test_clean_text_and_escaped_backslashes_pass(edge_client):
    assert edge_client.get("/edge/search", params={"q": "100%"}).json() == {"q": "100%"}
    literal = edge_client.post("/edge/notes", json={"notes": "C:\\u0000 ok é"})
    assert literal.status_code == 200 and literal.json() == {"notes": "C:\\u0000 ok é"}
    assert edge_client.post("/edge/form", data={"username": "a%00"}).status_code == 200


def test_json_nested_too_deeply_is_a_422_not_a_recursion_error(edge_client):
    deep = "[" * 990 + "]" * 990
    response = edge_client.post(
        "/edge/free-form", content=deep, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422 and "nested deeper" in response.json()["detail"]
    assert response.json()["errors"][0]["type"] == "json_too_deep"


def test_real_routes_refuse_nul_and_surrogates(client, session, auth_headers):
    """The repros of issue 10 item 4, on the main app."""
    admin = auth_headers(superuser=True)
    trip = make_trip(session)
    session.commit()
    _assert_unstorable(client.get("/trips?q=a%00b", headers=admin), ["query", "q"])
    _assert_unstorable(
        client.get("/admin/audit-logs?actor=a%00", headers=admin), ["query", "actor"]
    )
    _assert_unstorable(
        client.post("/auth/token", data={"username": "ad\x00min", "password": "x"}),
        ["body", "username"],
    )
    _assert_unstorable(
        client.patch(f"/trips/{trip.id}", json={"notes": "a\x00b"}, headers=admin),
        ["body", "notes"],
    )
    _assert_unstorable(
        _post_json(client, "/trips/99999999", {"notes": "\ud800x"}, method="PATCH", headers=admin),
        ["body", "notes"],
    )
    rule = {"name": "x", "type": "gps_stale", "params": {"a\x00": 1}}
    _assert_unstorable(
        client.post("/alert-rules", json=rule, headers=admin), ["body", "params", "a\ufffd"]
    )


@pytest.mark.parametrize("number", [2**40, 10**30, -(10**30)])
def test_numbers_the_database_cannot_hold_are_a_422(edge_client, session, number):
    """Schemathesis's huge ids were a 500: sqlite3 cannot bind past 64 bits (OverflowError) and
    PostgreSQL refuses a number past a column's range (SQLSTATE 22003)."""
    response = edge_client.post(f"/edge/store-number?n={number}")
    if session.get_bind().dialect.name == "sqlite" and abs(number) < 2**63:
        assert response.json() == {"n": number}
        return
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_error"
    assert [e["type"] for e in body["errors"]] == ["number_out_of_range"]


@pytest.mark.parametrize("path", ["/trips/{n}", "/drivers/{n}"])
def test_huge_ids_on_real_routes_are_never_a_500(client, auth_headers, path):
    admin = auth_headers(superuser=True)
    response = client.get(path.format(n=10**30), headers=admin)
    assert response.status_code in (404, 422), response.text
    huge = client.post("/driver_data/call-vapi", json={"driver_ids": [10**30]}, headers=admin)
    assert huge.status_code in (200, 422), huge.text


def test_body_over_the_limit_is_413_by_content_length(edge_client):
    response = edge_client.post("/edge/notes", json={"notes": "x" * LIMIT})
    assert response.status_code == 413
    assert response.json() == {
        "error": "payload_too_large",
        "detail": f"the request body is larger than the limit of {LIMIT} bytes",
        "max_bytes": LIMIT,
    }


def test_body_over_the_limit_is_413_while_streaming_chunked(edge_client):
    def chunks() -> Iterator[bytes]:
        yield b'{"notes": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'"}'

    response = edge_client.post(
        "/edge/notes", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"


def test_webhook_routes_have_their_own_limit(edge_client):
    assert edge_client.post("/webhooks/probe", content=b"x" * (LIMIT * 2)).json() == {
        "bytes": LIMIT * 2
    }
    assert (
        edge_client.post("/webhooks/probe", content=b"x" * (WEBHOOK_LIMIT + 1)).status_code == 413
    )


def test_validation_errors_never_echo_large_input(edge_client):
    response = edge_client.post("/edge/notes", json={"notes": "y" * 1500})
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["loc"] == ["body", "notes"]
    assert len(error["input"]) == MAX_ECHOED_INPUT_CHARS + 1 and error["input"].endswith("…")
    assert len(response.content) < 1000


def test_ten_megabyte_patch_on_the_main_app_is_413(client, session, auth_headers):
    admin = auth_headers(superuser=True)
    response = client.patch("/trips/1", json={"notes": "z" * 10_000_000}, headers=admin)
    assert response.status_code == 413 and len(response.content) < 500


@pytest.fixture
def edge_server() -> Iterator[int]:
    port = _free_port()
    config = uvicorn.Config(
        _edge_app(), host="127.0.0.1", port=port, log_level="critical", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="edge-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the edge app did not start")
        time.sleep(0.02)
    yield port
    server.should_exit = True
    thread.join(timeout=5)


def test_a_500_leaves_the_keep_alive_connection_usable(edge_server):
    """One connection: 500, 413, 422, then 200 — the server never resets it (issue 10 item 5)."""
    conn = http.client.HTTPConnection("127.0.0.1", edge_server, timeout=5)
    try:
        statuses = []
        sockets = set()
        for method, path, body in [
            ("GET", "/edge/boom", None),
            ("GET", "/edge/boom", None),
            ("GET", "/edge/search?q=a%00", None),
            ("POST", "/edge/notes", json.dumps({"notes": 5})),
            ("GET", "/edge/search?q=fine", None),
        ]:
            headers = {"content-type": "application/json"} if body else {}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            payload = json.loads(response.read())
            assert response.getheader("connection") != "close"
            assert "error" in payload or payload == {"q": "fine"}
            sockets.add(conn.sock)
            statuses.append(response.status)
        assert statuses == [500, 500, 422, 422, 200]
        assert len(sockets) == 1  # every request went over the same socket
    finally:
        conn.close()


def test_alert_rule_params_are_bounded(client, auth_headers):
    admin = auth_headers(superuser=True)
    rule = {"name": "big", "type": "gps_stale", "params": {"k": "v" * 20_000}}
    too_big = client.post("/alert-rules", json=rule, headers=admin)
    assert too_big.status_code == 422 and too_big.json()["errors"][0]["loc"] == ["body", "params"]
    nested: dict = {}
    for _ in range(10):
        nested = {"n": nested}
    too_deep = client.post("/alert-rules", json={**rule, "params": nested}, headers=admin)
    assert too_deep.status_code == 422 and "nested deeper" in too_deep.json()["detail"]
