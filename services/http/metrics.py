"""`GET /metrics` for Prometheus, and the middleware measuring requests per route template.

Access: the service key (`X-API-Key`), a user holding `metrics:read`, or a caller on
`METRICS_ALLOWED_NETWORKS` that came straight to the container (no `X-Forwarded-For`, so a
request relayed by Cloud Run's front end never passes as a local sidecar).
"""

# No `from __future__ import annotations`: FastAPI before 0.123 reads the annotations of a
# class-instance dependency's `__call__` without the module's globals (they must be objects).

import ipaddress
import logging
import os
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Security
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from config import get_settings
from db import database
from helpers.metrics import ADMISSION_REJECTIONS, HTTP_LATENCY, HTTP_REQUESTS
from helpers.time_utils import utc_now
from logic.auth.permissions import Permission
from services.deps import Caller, ServiceOrPermission, SessionDep, api_key_scheme, oauth2_scheme

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])


class _Traffic:
    """Requests of one app in this process: inside the app, and past admission control."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.admitted = 0
        self.admission_limit = 0


_TRAFFIC: dict[str, _Traffic] = {}


def _traffic(app_name: str) -> _Traffic:
    return _TRAFFIC.setdefault(app_name, _Traffic())


class MetricsMiddleware:
    """Outermost: count and time every request by the route template that served it."""

    def __init__(self, app: Any, app_name: str, exempt_paths: tuple[str, ...] = ("/health",)):
        self.app = app
        self.app_name = app_name
        self.exempt_paths = exempt_paths
        self.traffic = _traffic(app_name)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        queued = scope["path"] not in self.exempt_paths
        status = 500
        started = time.perf_counter()

        async def send_with_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        if queued:
            self.traffic.in_flight += 1
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            if queued:
                self.traffic.in_flight -= 1
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            HTTP_REQUESTS.labels(self.app_name, method, route, str(status)).inc()
            HTTP_LATENCY.labels(self.app_name, method, route).observe(time.perf_counter() - started)
            admitted = scope.get("state", {}).get("admitted", False)
            if queued and status == 503 and not admitted:
                ADMISSION_REJECTIONS.labels(self.app_name).inc()


class AdmittedMiddleware:
    """Inside admission control: marks a request admitted and counts those in progress."""

    def __init__(self, app: Any, app_name: str, limit: int) -> None:
        self.app = app
        self.traffic = _traffic(app_name)
        self.traffic.admission_limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["admitted"] = True
        self.traffic.admitted += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.traffic.admitted -= 1


class _StateCollector:
    """Gauges computed at scrape time: pool, admission queue, and the database-derived ones."""

    def collect(self) -> Any:
        yield from _pool_gauges()
        yield from _traffic_gauges()
        yield from _database_gauges()


def _pool_gauges() -> Any:
    engine = database.current_engine()
    pool = engine.pool if engine is not None else None
    in_use = GaugeMetricFamily("fleet_db_pool_in_use", "Pooled connections checked out now.")
    size = GaugeMetricFamily("fleet_db_pool_capacity", "Pool size plus overflow allowed.")
    checkedout = getattr(pool, "checkedout", None)
    in_use.add_metric([], float(checkedout()) if callable(checkedout) else 0.0)
    settings = get_settings()
    size.add_metric([], float(settings.DB_POOL_SIZE + settings.DB_MAX_OVERFLOW))
    yield in_use
    yield size


def _traffic_gauges() -> Any:
    queue = GaugeMetricFamily(
        "fleet_admission_queue_depth", "Requests waiting for admission now.", labels=["app"]
    )
    in_flight = GaugeMetricFamily(
        "fleet_admission_in_flight", "Requests admitted and in progress now.", labels=["app"]
    )
    limit = GaugeMetricFamily(
        "fleet_admission_limit", "Requests admitted at once (the pool bound).", labels=["app"]
    )
    for name, traffic in sorted(_TRAFFIC.items()):
        queue.add_metric([name], float(max(traffic.in_flight - traffic.admitted, 0)))
        in_flight.add_metric([name], float(traffic.admitted))
        limit.add_metric([name], float(traffic.admission_limit))
    yield from (queue, in_flight, limit)


def _database_gauges() -> Any:
    from logic.metrics import read_gauges

    up = GaugeMetricFamily("fleet_metrics_database_up", "1 if the database gauges were read.")
    try:
        with database.session_scope(immediate=False) as session:
            gauges = read_gauges(session, utc_now())
    except Exception as exc:  # a scrape must answer even when the database does not
        log.warning("metrics: database gauges unavailable: %s", type(exc).__name__)
        up.add_metric([], 0.0)
        yield up
        return
    up.add_metric([], 1.0)
    yield up
    depth = GaugeMetricFamily(
        "fleet_outbox_depth", "Slack deliveries queued, by status.", labels=["status"]
    )
    for status in ("pending", "sending"):
        depth.add_metric([status], float(gauges.outbox_depth.get(status, 0)))
    yield depth
    oldest = GaugeMetricFamily(
        "fleet_outbox_oldest_age_seconds", "Age of the oldest queued Slack delivery (0: none)."
    )
    oldest.add_metric([], gauges.outbox_oldest_age_seconds)
    yield oldest
    lag = GaugeMetricFamily(
        "fleet_ingest_lag_seconds",
        "Seconds since the last successful run, per feed.",
        labels=["source", "entity"],
    )
    for (source, entity), seconds in sorted(gauges.ingest_lag_seconds.items()):
        lag.add_metric([source, entity], seconds)
    yield lag
    if gauges.calls_by_outcome is not None:
        calls = GaugeMetricFamily("fleet_calls", "Calls recorded, by outcome.", labels=["outcome"])
        for outcome, count in sorted(gauges.calls_by_outcome.items()):
            calls.add_metric([outcome], float(count))
        yield calls


_collector_registered = False


def registry() -> CollectorRegistry:
    """The registry to expose: the default one, or a multiprocess aggregate (several workers)."""
    global _collector_registered
    if not _collector_registered:
        REGISTRY.register(_StateCollector())
        _collector_registered = True
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    from prometheus_client import multiprocess

    aggregate = CollectorRegistry()
    multiprocess.MultiProcessCollector(aggregate)
    aggregate.register(_StateCollector())
    return aggregate


class MetricsAccess(ServiceOrPermission):
    """The service key or `metrics:read`, or a direct caller on an allowed network."""

    def __call__(  # type: ignore[override]
        self,
        request: Request,
        session: SessionDep,
        api_key: Annotated[str | None, Security(api_key_scheme)],
        token: Annotated[str | None, Depends(oauth2_scheme)],
    ) -> Caller:
        if _from_allowed_network(request):
            return Caller(user=None)
        return super().__call__(session, api_key, token)


def _from_allowed_network(request: Request) -> bool:
    networks = get_settings().metrics_networks
    if not networks or request.client is None or "x-forwarded-for" in request.headers:
        return False
    try:
        address = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n, strict=False) for n in networks)


MetricsCaller = Annotated[Caller, Depends(MetricsAccess(Permission.METRICS_READ))]


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(_: MetricsCaller) -> Response:
    """Prometheus metrics of this process and the database gauges, in text format."""
    return Response(generate_latest(registry()), media_type=CONTENT_TYPE_LATEST)
