"""Prometheus metrics any layer may update (counters and histograms; no HTTP framework here).

They live in prometheus-client's default registry. Each uvicorn worker process counts its own;
with several workers set `PROMETHEUS_MULTIPROC_DIR` (see README, "Metrics") so `/metrics`
aggregates them. Gauges that describe the database (outbox depth, ingest lag, calls) are read
at scrape time instead, in `services/http/metrics.py`, so every instance reports the same truth.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "fleet_http_requests",
    "HTTP requests answered, by app, method, route template and status code.",
    ["app", "method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "fleet_http_request_duration_seconds",
    "Time from request start to the last body byte, by app, method and route template.",
    ["app", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
ADMISSION_REJECTIONS = Counter(
    "fleet_admission_rejections",
    "Requests refused with 503 because they waited too long for admission, by app.",
    ["app"],
)
INGEST_RUNS = Counter(
    "fleet_ingest_runs",
    "Ingest runs finished by this process, by source, entity and final status.",
    ["source", "entity", "status"],
)
INGEST_ROWS = Counter(
    "fleet_ingest_rows",
    "Rows ingest runs handled, by source, entity and kind (fetched, inserted, updated).",
    ["source", "entity", "kind"],
)
WEBHOOK_EVENTS = Counter(
    "fleet_webhook_events",
    "Signed webhook deliveries received, by provider and outcome (accepted, duplicate, rejected).",
    ["provider", "outcome"],
)
OUTBOX_DELIVERIES = Counter(
    "fleet_outbox_deliveries",
    "Outbox rows handled by this process, by outbox and outcome (sent, retried, failed, "
    "cancelled, deferred).",
    ["outbox", "outcome"],
)
OUTBOX_SEND_SECONDS = Histogram(
    "fleet_outbox_send_duration_seconds",
    "Time one outbox send spent talking to its vendor, by outbox.",
    ["outbox"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

VENDOR_REQUESTS = Counter(
    "fleet_vendor_requests",
    "HTTP requests sent to a vendor API by this process (every attempt: vendors bill per "
    "request), by vendor.",
    ["vendor"],
)


def count_vendor_request(vendor: str) -> None:
    VENDOR_REQUESTS.labels(vendor=vendor).inc()


def count_webhook(provider: str, outcome: str) -> None:
    """One webhook delivery taken in (call from the intake, after the signature check)."""
    WEBHOOK_EVENTS.labels(provider=provider, outcome=outcome).inc()


def count_ingest_run(source: str, entity: str, status: str, rows: dict[str, int]) -> None:
    INGEST_RUNS.labels(source=source, entity=entity, status=status).inc()
    for kind, count in rows.items():
        if count:
            INGEST_ROWS.labels(source=source, entity=entity, kind=kind).inc(count)
