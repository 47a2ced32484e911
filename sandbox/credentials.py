"""Credentials the sandbox accepts and the env that points every vendor client at it.

Shared by `make run` (devstack) and the tests; they are sandbox-only values, never real secrets.
"""

from __future__ import annotations

SAMSARA_TOKEN = "sandbox-samsara-token"

DITAT_ACCOUNT_ID = "sandboxfreight"
DITAT_USERNAME = "sandbox-api"
DITAT_PASSWORD = "sandbox-ditat-password"
# The literal role every known Ditat client sends on login.
DITAT_APPLICATION_ROLE = "Login to TMS"
DITAT_CLIENT_ID = "sandbox-ditat-client"
DITAT_CLIENT_SECRET = "sandbox-ditat-client-secret"

PCMILER_API_KEY = "sandbox-pcmiler-key"
WEATHER_API_KEY = "sandbox-weather-key"
SLACK_BOT_TOKEN = "xoxb-sandbox-token"
SLACK_SIGNING_SECRET = "sandbox-slack-signing-secret"
VAPI_API_KEY = "sandbox-vapi-key"
VAPI_WEBHOOK_SECRET = "sandbox-vapi-webhook-secret"
ELEVENLABS_API_KEY = "sandbox-elevenlabs-key"
ELEVENLABS_WEBHOOK_SECRET = "sandbox-elevenlabs-webhook-secret"
# Twilio's account SID has a fixed shape (AC + 32 hex); the auth token also signs its webhooks.
TWILIO_ACCOUNT_SID = "AC" + "5a" * 16
TWILIO_AUTH_TOKEN = "sandbox-twilio-auth-token"
TWILIO_FROM_NUMBER = "+12015550100"
# Agent ids the call fakes accept (any value works); they seed the local agent profiles.
VAPI_ASSISTANT_ID = "sandbox-vapi-assistant"
VAPI_PHONE_NUMBER_ID = "sandbox-vapi-number"
ELEVENLABS_AGENT_ID = "sandbox-elevenlabs-agent"
ELEVENLABS_PHONE_NUMBER_ID = "sandbox-elevenlabs-number"

BIGQUERY_PROJECT = "sandbox-project"
BIGQUERY_DATASET = "fleet_hub"

VENDORS = (
    "samsara", "ditat", "pcmiler", "weather", "nws", "slack", "vapi", "elevenlabs", "twilio",
    "bigquery",
)  # fmt: skip


def sandbox_settings_env(base_url: str, smtp_port: int | None = None) -> dict[str, str]:
    """Environment variables pointing every vendor base URL and credential at a sandbox (and
    mail at its SMTP server, when it runs on `smtp_port`)."""
    base = base_url.rstrip("/")
    mail = (
        {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "SMTP_USE_TLS": "false"}
        if smtp_port
        else {}
    )
    return mail | {
        "SAMSARA_BASE_URL": f"{base}/samsara",
        "SAMSARA_TOKEN": SAMSARA_TOKEN,
        # The sandbox enforces no rate limits: no need to pace to Samsara's 5 req/s.
        "SAMSARA_PACED_REQUESTS_PER_SECOND": "0",
        "DITAT_BASE_URL": f"{base}/ditat",
        "DITAT_ACCOUNT_ID": DITAT_ACCOUNT_ID,
        "DITAT_USERNAME": DITAT_USERNAME,
        "DITAT_PASSWORD": DITAT_PASSWORD,
        "DITAT_APPLICATION_ROLE": DITAT_APPLICATION_ROLE,
        "DITAT_AUTH_MODE": "token",
        "DITAT_CLIENT_ID": DITAT_CLIENT_ID,
        "DITAT_CLIENT_SECRET": DITAT_CLIENT_SECRET,
        "DITAT_TOKEN_URL": "",
        "PCMILER_BASE_URL": f"{base}/pcmiler",
        "PCMILER_API_KEY": PCMILER_API_KEY,
        "WEATHER_BASE_URL": f"{base}/weather",
        "WEATHER_API_KEY": WEATHER_API_KEY,
        "NWS_BASE_URL": f"{base}/nws",
        "SLACK_BASE_URL": f"{base}/slack/api/",
        "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
        "VAPI_BASE_URL": f"{base}/vapi",
        "VAPI_API_KEY": VAPI_API_KEY,
        "VAPI_WEBHOOK_SECRET": VAPI_WEBHOOK_SECRET,
        "VAPI_ASSISTANT_ID": VAPI_ASSISTANT_ID,
        "VAPI_PHONE_NUMBER_ID": VAPI_PHONE_NUMBER_ID,
        "ELEVENLABS_BASE_URL": f"{base}/elevenlabs",
        "ELEVENLABS_API_KEY": ELEVENLABS_API_KEY,
        "ELEVENLABS_WEBHOOK_SECRET": ELEVENLABS_WEBHOOK_SECRET,
        "TWILIO_BASE_URL": f"{base}/twilio",
        "TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": TWILIO_FROM_NUMBER,
        "GOOGLE_CLOUD_PROJECT": BIGQUERY_PROJECT,
        "BIGQUERY_DATASET": BIGQUERY_DATASET,
        "BIGQUERY_API_ENDPOINT": f"{base}/bigquery",
        "ELEVENLABS_AGENT_ID": ELEVENLABS_AGENT_ID,
        "ELEVENLABS_PHONE_NUMBER_ID": ELEVENLABS_PHONE_NUMBER_ID,
    }
