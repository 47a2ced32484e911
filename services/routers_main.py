"""The main API's routers, in one explicit list (order = order in the OpenAPI docs)."""

from fastapi import APIRouter

from services import admin_audit, admin_permissions, admin_roles, admin_sessions, auth, users
from services import (  # fleet domain
    driver_data,
    drivers,
    hos,
    locations,
    safety_events,
    trailers,
    trip_stops,
    trips,
    vehicles,
)
from services import routing, weather  # vendor-backed lookups
from services import ingest_status  # read-only ingest runs and freshness
from services import alert_deliveries, alert_rules, alerts, dashboard, slack  # alerts

ROUTERS: list[APIRouter] = [
    auth.router,
    users.router,
    admin_roles.router,
    admin_permissions.router,
    admin_sessions.router,
    admin_audit.router,
    drivers.router,
    driver_data.router,
    vehicles.router,
    trailers.router,
    trips.router,
    trip_stops.router,
    locations.router,
    hos.router,
    safety_events.router,
    routing.router,
    weather.router,
    ingest_status.router,
    alerts.router,
    alert_rules.router,
    alert_deliveries.router,
    slack.router,
    dashboard.router,
]
