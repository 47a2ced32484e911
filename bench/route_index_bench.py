"""Routing benchmark: the time to match a request's route among the main app's routers, with
every router included as it is and with each inside a `PrefixCheckedRouter`
(services/http/route_index.py), in the same run. Only the match is timed (the router's own loop
over `matches`), not the endpoint.

Usage: .venv/bin/python bench/route_index_bench.py [--iterations 2000] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import parse_args  # noqa: E402

REQUESTS = (
    ("GET", "/health"),
    ("GET", "/trips"),
    ("GET", "/trips/42"),
    ("POST", "/webhooks/vapi"),
    ("POST", "/slack/interactions"),
    ("GET", "/no/such/path"),
)


def build(indexed: bool):
    from fastapi import FastAPI

    from services import health, routers_main
    from services.http import route_index

    app = FastAPI()
    app.include_router(health.router)
    for router in routers_main.ROUTERS:
        app.include_router(route_index.indexed(router) if indexed else router)
    return app


def match_seconds(app, method: str, path: str, iterations: int) -> float:
    """Mean time of the router's match loop for one request (first full match wins)."""
    from starlette.routing import Match

    routes = app.router.routes
    started = time.perf_counter()
    for _ in range(iterations):
        scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
        for route in routes:
            if route.matches(scope)[0] == Match.FULL:
                break
    return (time.perf_counter() - started) / iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=2000)
    args = parse_args(parser, smoke={"iterations": 20})
    iterations = args.iterations
    plain, indexed = build(indexed=False), build(indexed=True)
    print(f"route match, mean of {iterations} (main app: {len(plain.router.routes)} entries)")
    print(f"  {'request':<28} {'as included':>12} {'prefix-checked':>15} {'saved':>8}")
    for method, path in REQUESTS:
        before = match_seconds(plain, method, path, iterations)
        after = match_seconds(indexed, method, path, iterations)
        print(
            f"  {method + ' ' + path:<28} {before * 1e6:>9.1f} µs {after * 1e6:>12.1f} µs"
            f" {before / after if after else 0:>7.1f}x"
        )


if __name__ == "__main__":
    main()
