"""Skip routers that cannot match a request's path, before FastAPI scans their routes.

FastAPI (from 0.137, lazily included routers) matches a request by asking every included router
in turn, and each router tries every one of its routes with per-route bookkeeping in the scope,
with no look at the router's prefix first. With 30-odd routers that scan costs more than a whole
`/health` request (bench/route_index_bench.py measures it). The app factory therefore includes
each router inside a `PrefixCheckedRouter`: a public `APIRouter` subclass whose `matches` first
checks the literal start of its routes' paths (everything before the first `{`), which a matching
path must begin with, and answers "no match" at once otherwise. On a FastAPI that flattens
included routes into the app (before 0.137) there is no router to ask, so nothing is wrapped.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.routing import Match

# Included routers are asked `matches` only where FastAPI includes them lazily.
LAZY_INCLUDES = hasattr(APIRouter, "matches")


class PrefixCheckedRouter(APIRouter):
    """One router, included, that refuses at once a path none of its routes can start with."""

    def __init__(self, router: APIRouter, literal_heads: tuple[str, ...]) -> None:
        super().__init__()
        self.literal_heads = literal_heads
        self.include_router(router)

    def matches(self, scope: dict[str, Any]) -> tuple[Match, dict[str, Any]]:
        path, root = scope.get("path", ""), scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]  # routes match the path below the root path
        if scope.get("type") == "http" and not path.startswith(self.literal_heads):
            return Match.NONE, {}
        return super().matches(scope)  # type: ignore[misc]


def literal_heads(router: APIRouter) -> tuple[str, ...] | None:
    """The distinct literal starts of the router's paths; None when one is not a plain path."""
    heads: set[str] = set()
    for route in router.routes:
        path = getattr(route, "path_format", None) or getattr(route, "path", None)
        if not isinstance(path, str) or not path.startswith("/"):
            return None  # a nested include or a mount: leave the router as it is
        heads.add(path.split("{", 1)[0])
    if not heads:
        return None
    # A head that starts with another is redundant; the shortest ones are the whole test.
    kept = [h for h in sorted(heads) if not any(h != o and h.startswith(o) for o in heads)]
    # Trailing-slash redirects retry with "/" added or removed: accept both spellings.
    return tuple(sorted({*kept, *(h.rstrip("/") for h in kept if len(h) > 1)}))


def indexed(router: APIRouter) -> APIRouter:
    """`router`, or a prefix-checked router holding it where that saves a scan."""
    heads = literal_heads(router) if LAZY_INCLUDES else None
    return router if heads is None else PrefixCheckedRouter(router, heads)
