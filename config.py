"""Settings for both apps: one `Settings` object read from the environment and `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "dev-secret-key", "changethis"}
)
DEFAULT_SQLITE_PATH = Path("data") / "fleet_hub.db"


class ConfigError(RuntimeError):
    """Configuration that cannot work; the message is one line meant for a human."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)

    ENVIRONMENT: Literal["development", "test", "staging", "production"] = "development"
    CLOUD_RUN_URL: str = ""
    LOG_LEVEL: str = "INFO"
    LOG_FORMAT: Literal["auto", "json", "text"] = "auto"

    # Database: DATABASE_URL wins; else DB_* for PostgreSQL; else embedded SQLite.
    DATABASE_URL: str = ""
    DB_USER: str = ""
    DB_PASS: SecretStr = SecretStr("")
    DB_HOST: str = ""
    DB_PORT: int = 5432
    DB_NAME: str = ""
    DB_SCHEMA: str = "dev"
    INSTANCE_UNIX_SOCKET: str = ""
    SQLITE_PATH: Path = DEFAULT_SQLITE_PATH
    DB_POOL_SIZE: int = 10
    DB_MAX_OVERFLOW: int = 20
    DB_POOL_TIMEOUT: float = 10.0

    # Auth.
    SECRET_KEY: SecretStr = SecretStr("dev-secret-key")
    ALGORITHM: Literal["HS256", "HS384", "HS512"] = "HS256"
    ACCESS_TOKEN_EXPIRE_MINUTES: int = 1440
    REFRESH_TOKEN_EXPIRE_DAYS: int = 14
    SERVICE_API_KEY: SecretStr = SecretStr("")
    LOGIN_RATE_LIMIT_PER_MINUTE: int = 20
    # Public tracking pages (/track/{token}): hits a minute per client address and per link.
    TRACK_RATE_LIMIT_PER_MINUTE: int = 60
    # How stale a tracking view may be: built at most once per link and process per this (0: off).
    TRACK_VIEW_CACHE_SECONDS: float = Field(default=10.0, ge=0)
    # Customer notices (logic/customers/notices.py): an ETA notice when the ETA moved by this
    # much since the last one told (or past the window), at most one per stop per debounce;
    # an arrival, departure or detention older than the max age when first seen is not news.
    CUSTOMER_NOTICE_ETA_SHIFT_MINUTES: int = Field(default=30, ge=1)
    CUSTOMER_NOTICE_DEBOUNCE_MINUTES: int = Field(default=30, ge=0)
    CUSTOMER_NOTICE_MAX_AGE_MINUTES: int = Field(default=120, ge=1)
    CUSTOMER_NOTICE_MAX_ATTEMPTS: int = 12
    CUSTOMER_NOTICE_BACKOFF_SECONDS: float = 30.0
    CUSTOMER_NOTICE_MAX_BACKOFF_SECONDS: float = 1800.0
    DEMO_ADMIN_USERNAME: str = "admin"
    DEMO_ADMIN_EMAIL: str = "admin@example.com"
    DEMO_ADMIN_PASSWORD: SecretStr = SecretStr("")

    # Vendors: defaults are the real services; the local run points them at sandbox/.
    SAMSARA_TOKEN: SecretStr = SecretStr("")
    SAMSARA_BASE_URL: str = "https://api.samsara.com"
    # Samsara's documented limit for HOS logs/violations and safety events; 0 = unpaced.
    SAMSARA_PACED_REQUESTS_PER_SECOND: float = Field(default=5.0, ge=0)
    DITAT_BASE_URL: str = "https://tms.ditat.net"
    DITAT_ACCOUNT_ID: str = ""
    DITAT_APPLICATION_ROLE: str = "Login to TMS"  # the literal every known Ditat client sends
    DITAT_USERNAME: str = ""
    DITAT_PASSWORD: SecretStr = SecretStr("")
    DITAT_AUTH_MODE: Literal["token", "oauth2"] = "token"
    DITAT_CLIENT_ID: str = ""
    DITAT_CLIENT_SECRET: SecretStr = SecretStr("")
    DITAT_TOKEN_URL: str = ""
    VAPI_API_KEY: SecretStr = SecretStr("")
    VAPI_BASE_URL: str = "https://api.vapi.ai"
    VAPI_ASSISTANT_ID: str = ""
    VAPI_PHONE_NUMBER_ID: str = ""
    VAPI_WEBHOOK_SECRET: SecretStr = SecretStr("")
    ELEVENLABS_API_KEY: SecretStr = SecretStr("")
    ELEVENLABS_BASE_URL: str = "https://api.elevenlabs.io"
    ELEVENLABS_AGENT_ID: str = ""
    ELEVENLABS_PHONE_NUMBER_ID: str = ""
    ELEVENLABS_WEBHOOK_SECRET: SecretStr = SecretStr("")
    PCMILER_API_KEY: SecretStr = SecretStr("")
    PCMILER_BASE_URL: str = "https://pcmiler.alk.com/apis/rest/v1.0"
    # Pin a numbered version (e.g. PCM37) when miles feed billing or rating.
    PCMILER_DATA_VERSION: str = "Current"
    MILEAGE_CACHE_DAYS: int = 30
    WEATHER_CACHE_SECONDS: int = 300
    WEATHER_API_KEY: SecretStr = SecretStr("")
    WEATHER_BASE_URL: str = "https://api.weatherapi.com/v1"
    NWS_BASE_URL: str = "https://api.weather.gov"
    NWS_USER_AGENT: str = "(fleet-intelligence-hub, ops@example.com)"
    SLACK_BOT_TOKEN: SecretStr = SecretStr("")
    SLACK_SIGNING_SECRET: SecretStr = SecretStr("")
    SLACK_BASE_URL: str = "https://slack.com/api/"
    SLACK_ALERTS_CHANNEL: str = "#fleet-alerts"
    SLACK_ESCALATION_CHANNEL: str = "#fleet-escalations"
    # Alerts: per-channel rate limit (overflow goes to a digest) and the outbox retry policy.
    ALERT_CHANNEL_MAX_POSTS: int = 20
    ALERT_CHANNEL_WINDOW_MINUTES: int = 10
    ALERT_DIGEST_DELAY_MINUTES: int = 5
    ALERT_DELIVERY_MAX_ATTEMPTS: int = 12
    ALERT_DELIVERY_BACKOFF_SECONDS: float = 15.0
    ALERT_DELIVERY_MAX_BACKOFF_SECONDS: float = 900.0
    # Campaigns: calls one tick may place (the rest wait for the next tick), and the Slack
    # user group (its id, e.g. S0123ABCD) the escalation ladder's last step pages.
    CAMPAIGN_TICK_MAX_DIALS: int = 100
    SLACK_ONCALL_GROUP_ID: str = ""
    # ETA: average speed over the road and the detour factor when PC*MILER is unavailable.
    ETA_AVERAGE_SPEED_MPH: float = 50.0
    ETA_ROAD_FACTOR: float = 1.2
    # Legal ETA: minutes on duty at every intermediate stop (loading, unloading, paperwork),
    # and the cycle the carrier runs (70 h / 8 days, or 60 h / 7 days).
    ETA_STOP_DWELL_MINUTES: float = 60.0
    HOS_CYCLE_HOURS: int = 70
    # Routing budget (logic/trips/route_cache.py): a trip's cached PC*MILER route is refreshed
    # when it is older than this and the truck has moved, or at once when the truck is farther
    # than ROUTE_CORRIDOR_MILES from it or the stops changed; at most ROUTE_MAX_REQUESTS a pass.
    ROUTE_MAX_AGE_MINUTES: float = 30.0
    ROUTE_CORRIDOR_MILES: float = 15.0
    ROUTE_MAX_REQUESTS: int = 25
    # Stop visits (logic/trips/stop_visits.py): the geofence radius around a stop, entry/exit
    # after this many consecutive points or minutes on the other side, an exit fence this much
    # wider than the entry fence (jitter at the edge never flaps), the distance within which a
    # truck's positions are read at all, and the free time before detention bills.
    STOP_GEOFENCE_RADIUS_MILES: float = 0.5
    STOP_GEOFENCE_EXIT_FACTOR: float = 1.25
    STOP_VISIT_POINTS: int = 3
    STOP_VISIT_MINUTES: float = 5.0
    STOP_NEAR_MILES: float = 5.0
    STOP_VISIT_LOOKBACK_MINUTES: int = 360
    DETENTION_FREE_MINUTES: int = 120
    # Per-facility (stop name) and per-customer overrides, as JSON:
    # {"facilities": {"Walmart DC 6094": {"radius_miles": 1.0, "free_minutes": 180}},
    #  "customers": {"Acme Foods": {"free_minutes": 90}}}. A facility beats its customer.
    STOP_OVERRIDES: dict[str, dict[str, dict[str, float]]] = {}
    VENDOR_TIMEOUT_SECONDS: float = 15.0
    # Calls: the driver's local calling window (home terminal zone, TCPA-style 08:00-21:00),
    # the zone for drivers without one, a per-driver daily maximum of dialed calls, and how long
    # after a call's expected end reconciliation polls the provider for a missing report.
    CALL_WINDOW_START: str = "08:00"
    CALL_WINDOW_END: str = "21:00"
    CALL_DEFAULT_TIMEZONE: str = "America/Chicago"
    CALL_MAX_PER_DRIVER_PER_DAY: int = 3
    CALL_RECONCILE_AFTER_MINUTES: int = 5
    # A call the provider never reports finished ends `unknown` this long after its dial,
    # releasing its driver; and how many calls the dialer places at once (each dial holds no
    # database connection while it waits for the provider).
    CALL_GIVE_UP_AFTER_MINUTES: int = 60
    # Safe to call: a truck faster than this is driving (the call waits); whether hands-free
    # calls to a driving driver are allowed (49 CFR 392.82 bans hand-held use only; an agent
    # profile may allow them); purposes (comma-separated) that may wake a resting driver.
    CALL_MOVING_MPH: float = 5.0
    CALL_HANDS_FREE_ALLOWED: bool = False
    CALL_URGENT_PURPOSES: str = ""
    CALL_DIAL_CONCURRENCY: int = 8
    # Where VAPI should post this deployment's webhooks (sent per call as the assistant's
    # server URL); empty keeps the URL configured on the VAPI assistant.
    CALL_WEBHOOK_BASE_URL: str = ""
    # Voicemail and warm transfer (VAPI): with a callback number the agent leaves
    # CALL_VOICEMAIL_MESSAGE ({carrier}, {callback}) on voicemail; with a transfer number it may
    # put the driver through to the on-call dispatcher when they ask for a person or report a
    # breakdown, an accident or a health problem.
    CALL_CARRIER_NAME: str = "dispatch"
    CALL_CALLBACK_NUMBER: str = ""
    CALL_VOICEMAIL_MESSAGE: str = (
        "Hi, this is {carrier} dispatch checking in on your load. Please call us back at "
        "{callback}. Thank you."
    )
    CALL_TRANSFER_NUMBER: str = ""

    # Reaching drivers (logic/messaging): Twilio Messaging for SMS (Basic auth with the account
    # SID and auth token, which also signs Twilio's webhooks), the number texts come from, and
    # the public base URL Twilio posts status callbacks and inbound texts to (empty: no status
    # callback is asked for, and signatures are checked against the URL the request arrived on).
    TWILIO_ACCOUNT_SID: str = ""
    TWILIO_AUTH_TOKEN: SecretStr = SecretStr("")
    TWILIO_BASE_URL: str = "https://api.twilio.com"
    TWILIO_FROM_NUMBER: str = ""
    TWILIO_WEBHOOK_BASE_URL: str = ""
    # Texting window in the driver's local time (in-cab messages and SMS alike), per-driver daily
    # caps per channel, and the outbox retry policy of outbound messages.
    MESSAGE_WINDOW_START: str = "07:00"
    MESSAGE_WINDOW_END: str = "22:00"
    MESSAGE_MAX_SMS_PER_DRIVER_PER_DAY: int = 5
    MESSAGE_MAX_INCAB_PER_DRIVER_PER_DAY: int = 20
    MESSAGE_DELIVERY_MAX_ATTEMPTS: int = 8
    MESSAGE_DELIVERY_BACKOFF_SECONDS: float = 10.0
    MESSAGE_DELIVERY_MAX_BACKOFF_SECONDS: float = 600.0

    # Ingest and retention.
    INGEST_BASE_URL: str = "http://127.0.0.1:8001"
    LOCATION_RETENTION_DAYS: int = 90
    # A `running` ingest run with no committed page for this long is taken to be dead (SQLite;
    # PostgreSQL knows at once through its advisory lock).
    INGEST_STALE_RUN_SECONDS: int = 900
    # Location feed pages are merged into one transaction of about this many points.
    INGEST_LOCATION_BATCH_ROWS: int = 10_000
    # Where the local scheduler (`cli.py scheduler`) finds the main API (alert evaluation).
    MAIN_API_BASE_URL: str = "http://127.0.0.1:8000"

    # Warehouse (BigQuery). Credentials: Application Default Credentials; anonymous when
    # BIGQUERY_API_ENDPOINT points elsewhere (the sandbox's fake at <sandbox>/bigquery).
    GOOGLE_CLOUD_PROJECT: str = ""
    BIGQUERY_DATASET: str = "fleet_hub"
    BIGQUERY_LOCATION: str = "US"
    BIGQUERY_API_ENDPOINT: str = ""
    # Rows changed in the last this-many seconds wait for the next export: a transaction still
    # open when the export reads may commit rows stamped before the watermark it sets.
    WAREHOUSE_SETTLE_SECONDS: int = 10
    # Reports: the local day of a driver without a terminal zone, the safety-score weights
    # (points taken off 100 per unit, see README "Driver reports"), and who counts as at risk.
    REPORT_DEFAULT_TIMEZONE: str = "America/Chicago"
    REPORT_SCORE_HOS_VIOLATION: float = 10.0
    REPORT_SCORE_EVENT_LOW: float = 1.0
    REPORT_SCORE_EVENT_MEDIUM: float = 3.0
    REPORT_SCORE_EVENT_HIGH: float = 8.0
    REPORT_SCORE_EVENT_CRITICAL: float = 20.0
    REPORT_SCORE_SPEEDING_MINUTE: float = 0.5
    REPORT_SCORE_LATE_STOP: float = 2.0
    REPORT_AT_RISK_SCORE: float = 70.0
    REPORT_AT_RISK_VIOLATIONS_7D: int = 2
    REPORT_NEAR_HOS_MINUTES: int = 60
    # Driver reports for the day before are rebuilt once this long after its local midnight.
    REPORT_NIGHTLY_DELAY_MINUTES: int = 120
    REPORT_DELIVERY_MAX_ATTEMPTS: int = 12
    REPORT_DELIVERY_BACKOFF_SECONDS: float = 30.0
    REPORT_DELIVERY_MAX_BACKOFF_SECONDS: float = 1800.0

    # Mail.
    SMTP_HOST: str = ""
    SMTP_PORT: int = 587
    SMTP_USER: str = ""
    SMTP_PASSWORD: SecretStr = SecretStr("")
    SMTP_FROM: str = "fleet-hub@example.com"
    SMTP_USE_TLS: bool = True

    # Error tracking (Sentry or GlitchTip).
    SENTRY_DSN: SecretStr = SecretStr("")
    SENTRY_TRACES_SAMPLE_RATE: float = Field(default=0.0, ge=0.0, le=1.0)

    # Admission control: requests in flight per process (see db/database.py for why).
    MAX_CONCURRENT_REQUESTS: int = 0
    # Request bodies larger than this are refused with 413 (vendor webhooks have their own limit:
    # Vapi's end-of-call reports carry whole transcripts).
    MAX_REQUEST_BODY_BYTES: int = Field(default=1_048_576, gt=0)
    MAX_WEBHOOK_BODY_BYTES: int = Field(default=10_485_760, gt=0)

    # Production: schema migrations, shutdown, metrics and browser-facing HTTP.
    # auto: create missing tables at startup (embedded SQLite, development); required: refuse to
    # start while Alembic migrations are pending (always so when ENVIRONMENT=production).
    MIGRATIONS: Literal["auto", "required"] = "auto"
    # Seconds in-flight requests get to finish after SIGTERM (Cloud Run allows 10 in all).
    SHUTDOWN_GRACE_SECONDS: float = 8.0
    # Proxies in front of the app that each append the address they saw to X-Forwarded-For
    # (Cloud Run's front end: 1). The client is the entry that many places from the right;
    # with 0 the header is ignored and the peer is the client. Entries further left are
    # whatever the caller wrote, so they are never trusted.
    FORWARDED_HOPS: int = Field(default=0, ge=0, le=5)
    # `/metrics` answers the service key, or any caller from these networks (comma-separated
    # CIDRs, e.g. 127.0.0.1/32 for a Managed Prometheus sidecar).
    METRICS_ALLOWED_NETWORKS: str = ""
    # Browser origins of the dashboard allowed by CORS (comma-separated); none by default.
    CORS_ALLOWED_ORIGINS: str = ""
    # Responses at least this large are gzip-compressed when the client accepts it.
    GZIP_MINIMUM_BYTES: int = 1024
    # Interpreter tuning of a serving process once its app has started (helpers/runtime_tuning.py):
    # freeze the startup heap, collect young objects less often, switch threads every 1 ms.
    # The test suite turns it off (many apps in one process; frozen objects would outlive tests).
    PROCESS_TUNING: bool = True

    @field_validator("DB_SCHEMA")
    @classmethod
    def _schema_is_identifier(cls, value: str) -> str:
        if not value.replace("_", "").isalnum() or value[0].isdigit():
            raise ValueError(f"DB_SCHEMA must be a plain SQL identifier, got {value!r}")
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secret_outside_development(self) -> Settings:
        if self.ENVIRONMENT in ("production", "staging"):
            secret = self.SECRET_KEY.get_secret_value()
            if secret.lower() in PLACEHOLDER_SECRETS or len(secret) < 32:
                raise ValueError(
                    f"SECRET_KEY is missing or a placeholder; {self.ENVIRONMENT} needs a random "
                    "value of at least 32 characters (python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))')"
                )
        return self

    @property
    def is_production(self) -> bool:
        return self.ENVIRONMENT == "production"

    @property
    def migrations_required(self) -> bool:
        return self.is_production or self.MIGRATIONS == "required"

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip() for o in self.CORS_ALLOWED_ORIGINS.split(",") if o.strip()]

    @property
    def metrics_networks(self) -> list[str]:
        return [n.strip() for n in self.METRICS_ALLOWED_NETWORKS.split(",") if n.strip()]

    @property
    def uses_postgres(self) -> bool:
        return bool(self.DATABASE_URL or self.DB_HOST or self.INSTANCE_UNIX_SOCKET)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests call `get_settings.cache_clear()` after changing env."""
    try:
        return Settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise ConfigError(_first_error_line(exc)) from None


def _first_error_line(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        message = str(first.get("msg", "")).removeprefix("Value error, ")
        return f"invalid configuration ({where}): {message}"
    return f"invalid configuration: {exc}"
