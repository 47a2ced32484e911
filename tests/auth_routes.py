"""Walking every route of both apps for the auth tests: paths, methods, the permission each
route's dependencies demand, and a probe that proves a request got past auth without running
the endpoint (so the walk has no side effects and never calls a vendor)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from helpers.errors import AppError
from logic.auth.permissions import Permission
from services import deps

# Reachable without credentials, by design. Everything else must answer 401 to a bad caller.
PUBLIC_PATHS = frozenset(
    {
        "/health",
        "/health/ready",
        "/auth/token",
        "/auth/refresh",
        # The console's static files (HTML, scripts, the base map); its data comes from the API.
        "/console{asset:path}",
        # Authenticated by the vendor's signature scheme instead of a user token.
        "/slack/interactions",
        "/webhooks/{provider}",
        "/webhooks/twilio",
        # A customer's tracking page: the unguessable share-link token is the credential.
        "/track/{token}",
        "/track/{token}.json",
    }
)
# FastAPI's own documentation pages and Swagger UI's files (turned off in production by the app
# factory).
DOCS_PATHS = frozenset(
    {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/docs/static", "/redoc"}
)
REACHED = 299


class EndpointReached(AppError):
    status_code = REACHED
    code = "endpoint_reached"


def _reached(*_args: Any, **_kwargs: Any) -> None:
    raise EndpointReached()


@dataclass(frozen=True)
class RouteInfo:
    path: str
    method: str
    dependant: Any  # fastapi.dependencies.models.Dependant, or None for non-API routes

    @property
    def url(self) -> str:
        return re.sub(r"\{[^}]+\}", "1", self.path)

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def _route_objects(app: FastAPI) -> Iterator[Any]:
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazily included routers: routes are already flat
        yield from app.routes
        return
    yield from iter_route_contexts(app.routes)


def iter_routes(app: FastAPI) -> list[RouteInfo]:
    routes = []
    for route in _route_objects(app):
        path = getattr(route, "path", None) or getattr(route, "path_format", None) or repr(route)
        methods = sorted((getattr(route, "methods", None) or {"*"}) - {"HEAD", "OPTIONS"})
        dependant = getattr(route, "dependant", None)
        for method in methods:
            routes.append(RouteInfo(path=path, method=method, dependant=dependant))
    return routes


def _calls(dependant: Any) -> Iterator[Any]:
    for sub in getattr(dependant, "dependencies", ()):
        yield sub.call
        yield from _calls(sub)


_AUTHENTICATING = (deps.get_principal, deps.get_auth_principal)


def is_authenticated(route: RouteInfo) -> bool:
    return any(
        call in _AUTHENTICATING or getattr(call, "required_permission", None) is not None
        for call in _calls(route.dependant)
    )


def required_permissions(route: RouteInfo) -> set[Permission]:
    return {
        Permission(call.required_permission)
        for call in _calls(route.dependant)
        if getattr(call, "required_permission", None) is not None
    }


def accepts_service_key(route: RouteInfo) -> bool:
    return any(isinstance(call, deps.ServiceOrPermission) for call in _calls(route.dependant))


def protected_routes(app: FastAPI) -> list[RouteInfo]:
    return [r for r in iter_routes(app) if r.path not in PUBLIC_PATHS | DOCS_PATHS]


@contextmanager
def endpoints_replaced_by_probe(app: FastAPI) -> Iterator[None]:
    """Swap every endpoint for one that answers 299, so "got past auth" is visible and free."""
    swapped = []
    for route in _route_objects(app):
        dependant = getattr(route, "dependant", None)
        if dependant is not None and dependant.call is not None:
            swapped.append((dependant, dependant.call))
            dependant.call = _reached
    try:
        yield
    finally:
        for dependant, call in swapped:
            dependant.call = call


def request(client: Any, route: RouteInfo, headers: dict[str, str] | None = None) -> Any:
    return client.request(route.method, route.url, headers=headers or {})
