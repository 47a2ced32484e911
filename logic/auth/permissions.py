"""Every permission in the system, as `resource:action` strings, and the default roles."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    # Fleet domain.
    DRIVERS_READ = "drivers:read"
    DRIVERS_WRITE = "drivers:write"
    VEHICLES_READ = "vehicles:read"
    VEHICLES_WRITE = "vehicles:write"
    TRIPS_READ = "trips:read"
    TRIPS_WRITE = "trips:write"
    LOCATIONS_READ = "locations:read"
    HOS_READ = "hos:read"
    SAFETY_READ = "safety:read"
    SAFETY_WRITE = "safety:write"
    ROUTING_READ = "routing:read"
    WEATHER_READ = "weather:read"
    DASHBOARD_READ = "dashboard:read"
    # Customers (shippers, brokers) and the contacts who get notices about their loads.
    CUSTOMERS_READ = "customers:read"
    CUSTOMERS_WRITE = "customers:write"
    # Alerts.
    ALERTS_READ = "alerts:read"
    ALERTS_WRITE = "alerts:write"
    ALERTS_EVALUATE = "alerts:evaluate"
    ALERT_RULES_READ = "alert_rules:read"
    ALERT_RULES_WRITE = "alert_rules:write"
    # Calls, campaigns and reports.
    CALLS_READ = "calls:read"
    CALLS_PLACE = "calls:place"
    CALLS_ADMIN = "calls:admin"
    CAMPAIGNS_READ = "campaigns:read"
    CAMPAIGNS_WRITE = "campaigns:write"
    REPORTS_READ = "reports:read"
    REPORTS_GENERATE = "reports:generate"
    # Ingest.
    INGEST_READ = "ingest:read"
    INGEST_RUN = "ingest:run"
    # Warehouse.
    WAREHOUSE_EXPORT = "warehouse:export"
    # Administration.
    ADMIN_USERS = "admin:users"
    ADMIN_ROLES = "admin:roles"
    ADMIN_SESSIONS = "admin:sessions"
    ADMIN_AUDIT = "admin:audit"
    # Operations: the Prometheus endpoint (a scraper uses the service key instead).
    METRICS_READ = "metrics:read"


_READ_FLEET = {
    Permission.DRIVERS_READ,
    Permission.VEHICLES_READ,
    Permission.TRIPS_READ,
    Permission.LOCATIONS_READ,
    Permission.HOS_READ,
    Permission.SAFETY_READ,
    Permission.ROUTING_READ,
    Permission.WEATHER_READ,
    Permission.DASHBOARD_READ,
    Permission.ALERTS_READ,
    Permission.INGEST_READ,
}

DEFAULT_ROLES: dict[str, set[Permission]] = {
    "admin": set(Permission),
    "dispatcher": _READ_FLEET
    | {
        Permission.DRIVERS_WRITE,
        Permission.TRIPS_WRITE,
        Permission.CUSTOMERS_READ,
        Permission.ALERTS_WRITE,
        Permission.ALERT_RULES_READ,
        Permission.CALLS_READ,
        Permission.CALLS_PLACE,
        Permission.CAMPAIGNS_READ,
        Permission.REPORTS_READ,
    },
    "safety_manager": _READ_FLEET
    | {
        Permission.SAFETY_WRITE,
        Permission.ALERTS_WRITE,
        Permission.ALERT_RULES_READ,
        Permission.ALERT_RULES_WRITE,
        Permission.CALLS_READ,
        Permission.CALLS_PLACE,
        Permission.CAMPAIGNS_READ,
        Permission.CAMPAIGNS_WRITE,
        Permission.REPORTS_READ,
        Permission.REPORTS_GENERATE,
    },
    "viewer": set(_READ_FLEET),
}
