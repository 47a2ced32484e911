"""The route index: every route of the main app is matched as it would be without it, and a
router refuses a path its routes cannot start with before scanning them."""

import re

from fastapi import APIRouter, FastAPI
from starlette.routing import Match

from services import health, routers_main
from services.http import route_index
from tests.auth_routes import iter_routes


def _app(indexed: bool) -> FastAPI:
    app = FastAPI()
    app.include_router(health.router)
    for router in routers_main.ROUTERS:
        app.include_router(route_index.indexed(router) if indexed else router)
    return app


def _matched(app: FastAPI, method: str, path: str) -> tuple[int, str] | None:
    """Which of the app's entries takes the request, and how (full match first, then partial,
    as Starlette's router decides); the index keeps the order, so the same entry must win."""
    partial = None
    for position, route in enumerate(app.router.routes):
        scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
        match = route.matches(scope)[0]
        if match == Match.FULL:
            return position, "full"
        if match == Match.PARTIAL and partial is None:
            partial = (position, "partial")
    return partial


def test_every_route_is_matched_as_without_the_index():
    plain, indexed = _app(indexed=False), _app(indexed=True)
    checked = 0
    for route in iter_routes(plain):
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        wanted = _matched(plain, route.method, path)
        assert wanted is not None and _matched(indexed, route.method, path) == wanted, route.label
        other = "DELETE" if route.method != "DELETE" else "GET"  # a 405 is a partial match
        assert _matched(indexed, other, path) == _matched(plain, other, path), route.label
        checked += 1
    assert checked > 100


def test_a_router_refuses_paths_outside_its_literal_heads():
    router = APIRouter(prefix="/trips")
    router.add_api_route("", lambda: None, methods=["GET"])
    router.add_api_route("/{trip_id}/stops", lambda trip_id: None, methods=["GET"])
    assert route_index.literal_heads(router) == ("/trips",)
    checked = route_index.PrefixCheckedRouter(router, ("/trips",))
    scope = {"type": "http", "method": "GET", "path": "/webhooks/vapi", "root_path": ""}
    assert checked.matches(scope) == (Match.NONE, {})


def test_a_router_with_a_nested_include_is_left_as_it_is():
    outer, inner = APIRouter(prefix="/a"), APIRouter(prefix="/b")
    inner.add_api_route("/c", lambda: None, methods=["GET"])
    outer.include_router(inner)
    if route_index.LAZY_INCLUDES:
        assert route_index.literal_heads(outer) is None
    assert route_index.indexed(outer) is outer or not route_index.LAZY_INCLUDES
