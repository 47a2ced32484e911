"""The `VoiceProvider` interface and the plain values that cross it (no database, no session)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from config import Settings
    from models.call import Call

PROVIDER_CALL_ID_MAX = 100  # the inbox's and the call's column


def voicemail_message(settings: Settings) -> str | None:
    """What an agent leaves on voicemail (carrier and callback number), or None: without a
    callback number no message is left (the call just ends, outcome `voicemail`)."""
    if not settings.CALL_CALLBACK_NUMBER:
        return None
    return settings.CALL_VOICEMAIL_MESSAGE.format(
        carrier=settings.CALL_CARRIER_NAME, callback=settings.CALL_CALLBACK_NUMBER
    )


@dataclass(frozen=True)
class DialSpec:
    """Everything a provider needs to place one hub call (read from the committed row)."""

    call_id: int
    driver_id: int | None
    to_number: str
    assistant_id: str
    phone_number_id: str
    purpose: str
    variables: dict[str, Any] = field(default_factory=dict)
    customer_name: str | None = None
    alert_id: int | None = None
    server_url: str | None = None
    language: str | None = None

    @property
    def user_id(self) -> str:
        """The id the provider keeps for the person called (searchable at ElevenLabs)."""
        return f"driver-{self.driver_id}"


@dataclass(frozen=True)
class Dialed:
    """The provider accepted the call: its id, and the carrier's call sid when it says."""

    provider_call_id: str
    twilio_call_sid: str | None = None


@dataclass(frozen=True)
class Polled:
    """A finished call as polled, shaped as the webhook event it stands in for."""

    event_type: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class EventKey:
    """What the inbox keeps about one verified delivery: its type, ids and dedup fingerprint."""

    provider: str
    event_type: str
    fingerprint: str
    provider_call_id: str | None
    hub_call_id: int | None
    occurred_at: datetime | None

    def __post_init__(self) -> None:
        # Refused here (400), not by the inbox column: one delivery's value must not fail
        # the statement the deliveries arriving with it share.
        if self.provider_call_id and len(self.provider_call_id) > PROVIDER_CALL_ID_MAX:
            raise ValueError(f"call id longer than {PROVIDER_CALL_ID_MAX} characters")


class VoiceProvider(Protocol):
    """One voice vendor: its webhooks (verify, parse, apply) and its API (dial, find, poll).

    Built from settings (`Kind(settings, retry_wait=…)`) without I/O: the API client is made on
    first use, so verifying a webhook never needs the API key. Vendor I/O methods are called
    with no transaction open; `parse_event` and `apply_event` touch no database.
    """

    name: str
    label: str  # how people write the vendor's name (Slack replies, reports)

    def __init__(self, settings: Settings, *, retry_wait: float = 0.5) -> None: ...

    def default_agent(self) -> tuple[str, str] | None:
        """(assistant id, caller-id number id) from settings, to seed a first profile."""

    def verify_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> None:
        """Authenticate a delivery over its raw bytes; raises a `utils.signatures` error."""

    def parse_event(self, payload: Any, raw_body: bytes) -> EventKey | None:
        """The delivery's key; None for types acknowledged and dropped; ValueError if malformed."""

    def apply_event(
        self, call: Call, event_type: str, payload: dict[str, Any], *, now: datetime
    ) -> None:
        """Move `call` forward by one stored event (idempotent; see `voice.state`)."""

    def dial(self, spec: DialSpec) -> Dialed:
        """Place the call; raises `VendorRejectedError` (not placed) or `VendorTransientError`
        (a timeout or 5xx: it may have been placed)."""

    def find_placed(self, spec: DialSpec, since: datetime) -> Dialed | None:
        """The vendor's call for this hub call if one exists (created at or after `since`)."""

    def poll(
        self, provider_call_id: str, *, expected_end: datetime, now: datetime
    ) -> Polled | None:
        """The call's final record when the vendor says it is over, else None."""

    def close(self) -> None: ...
