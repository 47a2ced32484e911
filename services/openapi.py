"""The published API description, completed at app build time for every route of both apps.

Each operation gets its endpoint's name as operation id, its docstring's first line as summary,
and its error responses, all with the one `ErrorResponse` schema. The errors are derived from the
route itself: authentication → 401, a permission → 403, a path parameter → 404, a body → 400, 413
and 422, any parameter → 422, a signed webhook (its path) → 400 and 401, and admission control or
the database → 503. A route that can also answer 409 or 429 says so with
`responses=error_responses(409)`.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase

from services.http.admission import ADMISSION_EXEMPT_PATHS
from services.http.errors import ErrorResponse
from services.http.input_guard import WEBHOOK_PATH_PREFIXES

ERROR_SCHEMA_REF = "#/components/schemas/ErrorResponse"

ERROR_DESCRIPTIONS = {
    400: "Bad request",
    401: "Not authenticated: no, an invalid or an expired credential",
    403: "Authenticated, but without the permission this operation requires",
    404: "The resource does not exist",
    409: "Conflicts with the current state (a duplicate, or work already under way)",
    413: "The request body is larger than the limit",
    422: "Invalid request (the `errors` list names each invalid field)",
    429: "Too many requests; retry after `Retry-After` seconds",
    503: "Overloaded, or the database or a vendor is unavailable; retry after `Retry-After`",
}

_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "string"}}
}
_WWW_AUTHENTICATE = {
    "WWW-Authenticate": {"description": "The scheme to use (Bearer)", "schema": {"type": "string"}}
}


def operation_id(route: APIRoute) -> str:
    """The endpoint function's name: stable, readable and (tested) unique per app."""
    return route.name


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for errors a route's signature does not reveal (409, 429, …)."""
    return {
        status: {"model": ErrorResponse, "description": ERROR_DESCRIPTIONS[status]}
        for status in statuses
    }


def install_openapi(app: FastAPI) -> None:
    """Complete the generated schema with summaries and documented error responses."""
    generate = app.openapi
    completed: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        schema = generate()
        if not completed or completed[0] is not schema:  # FastAPI generated it anew
            complete_operations(app, schema)
            publish_error_schema(schema)
            describe_foreign_token_urls(app, schema)
            completed[:] = [schema]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def summary_of(route: Any) -> str | None:
    """The first line of the endpoint's docstring, without its final period."""
    doc = inspect.getdoc(route.endpoint)
    return doc.splitlines()[0].strip().rstrip(".") if doc else None


def error_statuses(route: Any) -> set[int]:
    """The error statuses a route can answer with, read from its parameters and dependencies."""
    statuses = set() if route.path_format in ADMISSION_EXEMPT_PATHS else {503}
    if route.path_format.startswith(WEBHOOK_PATH_PREFIXES):  # a missing or a bad signature
        statuses |= {400, 401}
    for dependant in _dependants(route.dependant):
        if isinstance(dependant.call, SecurityBase):
            statuses.add(401)
        if hasattr(dependant.call, "required_permission"):
            statuses |= {401, 403}
        if dependant.path_params:
            statuses |= {404, 422}
        if dependant.query_params or dependant.header_params or dependant.cookie_params:
            statuses.add(422)
        if dependant.body_params:  # 400: a body that does not parse as its media type
            statuses |= {400, 413, 422}
    return statuses


def complete_operations(app: FastAPI, schema: dict[str, Any]) -> None:
    """Each operation's summary from its docstring and its error responses with `ErrorResponse`.

    FastAPI's own 422 (its `HTTPValidationError` list) is replaced: we never answer with it.
    """
    for route in _api_routes(app):
        for method in route.methods - {"HEAD", "OPTIONS"}:
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            if not route.summary and summary_of(route):
                operation["summary"] = summary_of(route)
            responses = operation.setdefault("responses", {})
            for response in responses.values():
                _describe_files(response.get("content", {}))
            declared = {int(code) for code in responses if code.isdigit() and int(code) >= 400}
            for status in sorted(error_statuses(route) | declared):
                responses[str(status)] = _error_response(status, responses.get(str(status)))


def publish_error_schema(schema: dict[str, Any]) -> None:
    """`ErrorResponse` (and `FieldError`) as components; FastAPI's unused 422 models removed."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas["ErrorResponse"] = error_schema
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)


def describe_foreign_token_urls(app: FastAPI, schema: dict[str, Any]) -> None:
    """An OAuth2 password flow whose token URL this app does not serve becomes a plain bearer.

    The ingest app accepts the main API's tokens; pointing Swagger's "Authorize" at its own
    `/auth/token` would be a 404, so it asks for the token itself instead.
    """
    served = {route.path for route in _api_routes(app)}
    schemes = schema.get("components", {}).get("securitySchemes", {})
    for name, scheme in schemes.items():
        token_url = scheme.get("flows", {}).get("password", {}).get("tokenUrl")
        if scheme.get("type") == "oauth2" and token_url and token_url not in served:
            schemes[name] = {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": f"An access token from the main API's POST {token_url}",
            }


def _describe_files(content: dict[str, Any]) -> None:
    """A CSV, an image or a PDF without a schema is a string (text) or bytes (anything else)."""
    for media_type, media in content.items():
        if media.get("schema") or media_type == "application/json" or media_type.endswith("+json"):
            continue
        if media_type.startswith("text/"):
            media["schema"] = {"type": "string"}
        else:
            media["schema"] = {"type": "string", "format": "binary"}


def _error_response(status: int, declared: dict[str, Any] | None) -> dict[str, Any]:
    default = ERROR_DESCRIPTIONS.get(status, "Error")
    response: dict[str, Any] = {
        "description": (declared or {}).get("description") or default,
        "content": {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}},
    }
    if status in (429, 503):
        response["headers"] = _RETRY_AFTER
    elif status == 401:
        response["headers"] = _WWW_AUTHENTICATE
    return response


def _dependants(root: Dependant) -> Iterator[Dependant]:
    stack = [root]
    while stack:
        dependant = stack.pop()
        yield dependant
        stack.extend(dependant.dependencies)


def _api_routes(app: FastAPI) -> Iterator[Any]:
    """Every documented route with its full path (FastAPI ≥ 0.160 includes routers lazily)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: the routes are already flat
        routes: Iterator[Any] = iter(app.routes)
    else:
        routes = iter_route_contexts(app.routes)
    for route in routes:
        original = getattr(route, "original_route", route)
        if isinstance(original, APIRoute) and route.include_in_schema:
            yield route
