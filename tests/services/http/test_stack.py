"""The declared middleware order, and the invariants it must keep, on a built app."""

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware

from config import get_settings
from services.http.admission import AdmissionControlMiddleware
from services.http.app_factory import build_app
from services.http.draining import DrainingMiddleware
from services.http.error_boundary import ErrorBoundaryMiddleware
from services.http.etag import ETagMiddleware
from services.http.forwarded import ForwardedClientMiddleware
from services.http.input_guard import InputGuardMiddleware
from services.http.metrics import AdmittedMiddleware, MetricsMiddleware
from services.http.not_modified import NotModifiedShortcutMiddleware
from services.http.request_context import RequestContextMiddleware
from services.http.security_headers import SecurityHeadersMiddleware

FULL_ORDER = [
    ForwardedClientMiddleware,
    MetricsMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
    CORSMiddleware,
    GZipMiddleware,
    ETagMiddleware,
    DrainingMiddleware,
    ErrorBoundaryMiddleware,
    InputGuardMiddleware,
    AdmissionControlMiddleware,
    AdmittedMiddleware,
    NotModifiedShortcutMiddleware,
]


def _layers(app: FastAPI) -> list[type]:
    """The app's middleware classes, outermost first."""
    return [layer.cls for layer in app.user_middleware]


def _full_app() -> FastAPI:
    settings = get_settings().model_copy(
        update={"FORWARDED_HOPS": 1, "CORS_ALLOWED_ORIGINS": "https://board.example"}
    )
    return build_app(title="stack-probe", routers=[], settings=settings)


def test_every_layer_in_the_declared_order():
    assert _layers(_full_app()) == FULL_ORDER


def test_optional_layers_are_left_out_without_changing_the_rest():
    settings = get_settings().model_copy(update={"FORWARDED_HOPS": 0, "CORS_ALLOWED_ORIGINS": ""})
    app = build_app(title="stack-probe", routers=[], settings=settings)
    assert _layers(app) == [
        cls for cls in FULL_ORDER if cls not in (ForwardedClientMiddleware, CORSMiddleware)
    ]


def test_invariants_the_order_keeps():
    layers = _layers(_full_app())
    position = layers.index
    # Everything inside sees the caller's real address.
    assert position(ForwardedClientMiddleware) == 0
    # The shortcut holds a pooled connection: only admitted requests may reach it.
    assert position(NotModifiedShortcutMiddleware) > position(AdmissionControlMiddleware)
    # The admitted counter counts what admission let through, so it sits inside it.
    assert position(AdmittedMiddleware) == position(AdmissionControlMiddleware) + 1
    # Errors are shaped before metrics record them; admission's 503s are counted too.
    assert position(MetricsMiddleware) < position(ErrorBoundaryMiddleware)
    assert position(MetricsMiddleware) < position(AdmissionControlMiddleware)
    # A draining instance answers at once, without waiting for an admission slot.
    assert position(DrainingMiddleware) < position(AdmissionControlMiddleware)
    # Request ids are set before anything inside logs or renders an error.
    assert position(RequestContextMiddleware) < position(ErrorBoundaryMiddleware)
    # The ETag layer tags what gzip has not compressed yet.
    assert position(GZipMiddleware) < position(ETagMiddleware)
