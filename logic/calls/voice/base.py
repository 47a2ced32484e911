"""The `VoiceProvider` interface and the plain values that cross it (no database, no session)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


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


class VoiceProvider(Protocol):
    """One voice vendor. Every method does vendor I/O only; callers hold no transaction."""

    name: str

    def dial(self, spec: DialSpec) -> Dialed:
        """Place the call; raises `VendorRejectedError` (not placed) or `VendorTransientError`
        (a timeout or 5xx: it may have been placed)."""
        ...

    def find_placed(self, spec: DialSpec, since: datetime) -> Dialed | None:
        """The vendor's call for this hub call if one exists (created at or after `since`)."""
        ...

    def poll(
        self, provider_call_id: str, *, expected_end: datetime, now: datetime
    ) -> Polled | None:
        """The call's final record when the vendor says it is over, else None."""
        ...

    def close(self) -> None: ...
