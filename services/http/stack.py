"""The production layers of both apps, installed by the app factory in three calls (outermost
last): the admitted-request counter, the HTTP layers, and the metrics middleware and route."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware

from config import Settings
from services import metrics
from services.http_cache import ETagMiddleware
from services.security_headers import SecurityHeadersMiddleware
from services.shutdown import DrainingMiddleware


def install_admitted_counter(app: FastAPI, title: str, admitted: int) -> None:
    """Innermost: must sit inside admission control to count what it let through."""
    app.add_middleware(metrics.AdmittedMiddleware, app_name=title, limit=admitted)


def install_http_layers(app: FastAPI, settings: Settings) -> None:
    """Outside admission: refuse while draining, ETag/304, gzip, CORS, security headers."""
    app.add_middleware(DrainingMiddleware)
    app.add_middleware(ETagMiddleware)
    app.add_middleware(GZipMiddleware, minimum_size=settings.GZIP_MINIMUM_BYTES)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match", "X-Request-ID"],
            expose_headers=["ETag", "X-Request-ID", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.is_production)


def install_metrics(app: FastAPI, title: str) -> None:
    """Outermost, so admission 503s and every error are counted; plus `GET /metrics`."""
    app.add_middleware(metrics.MetricsMiddleware, app_name=title)
    app.include_router(metrics.router)
