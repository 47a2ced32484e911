"""The middleware of both apps, declared once, outermost first: the path a request takes in.

Read top to bottom as a request travels: the client's real address, then metrics (so admission
503s and every error are counted), request ids, browser headers, CORS, compression, ETags, the
shutdown drain, the error boundary (errors are shaped before metrics record them), the input
guard, admission control, the admitted counter, and innermost the 304 shortcut, which holds a
pooled connection and therefore must be admitted. tests/services/http/test_stack.py checks
the order and these invariants.
"""

from __future__ import annotations

import os

from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from starlette.middleware import Middleware
from starlette.routing import Router

from config import Settings
from services.http.admission import AdmissionControlMiddleware
from services.http.draining import DrainingMiddleware
from services.http.error_boundary import ErrorBoundaryMiddleware
from services.http.etag import ETagMiddleware
from services.http.forwarded import ForwardedClientMiddleware
from services.http.input_guard import WEBHOOK_PATH_PREFIXES, InputGuardMiddleware
from services.http.metrics import AdmittedMiddleware, MetricsMiddleware
from services.http.not_modified import NotModifiedShortcutMiddleware
from services.http.request_context import RequestContextMiddleware
from services.http.security_headers import SecurityHeadersMiddleware


def middleware_stack(
    settings: Settings, *, title: str, admitted: int, router: Router
) -> list[Middleware]:
    """Every layer of an app, outermost first; optional layers are left out when unset."""
    layers: list[Middleware | None] = [
        # Outermost: everything inside sees the real client.
        Middleware(ForwardedClientMiddleware, hops=settings.FORWARDED_HOPS)
        if settings.FORWARDED_HOPS
        else None,
        Middleware(MetricsMiddleware, app_name=title),
        Middleware(RequestContextMiddleware, project_id=os.environ.get("GOOGLE_CLOUD_PROJECT", "")),
        Middleware(SecurityHeadersMiddleware, hsts=settings.is_production),
        _cors(settings),
        Middleware(GZipMiddleware, minimum_size=settings.GZIP_MINIMUM_BYTES),
        Middleware(ETagMiddleware),
        Middleware(DrainingMiddleware),
        Middleware(ErrorBoundaryMiddleware),
        Middleware(
            InputGuardMiddleware,
            max_body_bytes=settings.MAX_REQUEST_BODY_BYTES,
            large_body_paths=dict.fromkeys(WEBHOOK_PATH_PREFIXES, settings.MAX_WEBHOOK_BODY_BYTES),
        ),
        Middleware(
            AdmissionControlMiddleware, limit=admitted, queue_timeout=settings.DB_POOL_TIMEOUT
        ),
        Middleware(AdmittedMiddleware, app_name=title, limit=admitted),
        Middleware(NotModifiedShortcutMiddleware, router=router),
    ]
    return [layer for layer in layers if layer is not None]


def _cors(settings: Settings) -> Middleware | None:
    if not settings.cors_origins:
        return None
    return Middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "If-None-Match", "X-Request-ID"],
        expose_headers=["ETag", "X-Request-ID", "Retry-After"],
        max_age=600,
    )
