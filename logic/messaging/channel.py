"""The `MessageChannel` interface and the plain values that cross it (no database, no session).

A channel sends one message (`send`), finds a send that may have reached the vendor before
(`find_sent`), reads the current state of one it sent (`status`) and lists what happened since a
moment (`receive`: texts and in-cab replies from drivers, delivery and read changes). Pushed
events (Twilio's signed webhooks) become the same `Received` values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol


@dataclass(frozen=True)
class Outgoing:
    """One committed outbound message, as the channel needs it."""

    message_id: int
    body: str
    created_at: datetime
    to_number: str | None = None
    samsara_driver_id: str | None = None


@dataclass(frozen=True)
class Receipt:
    """The channel accepted the message: its id there (when it gives one) and its status."""

    provider_message_id: str | None
    status: str


@dataclass(frozen=True)
class Received:
    """Something a channel reports: a driver's message (`message`) or a change in one we sent
    (`status`: matched by provider id, or for in-cab messages by driver and text)."""

    channel: str
    kind: Literal["message", "status"]
    occurred_at: datetime
    provider_message_id: str | None = None
    status: str | None = None
    body: str | None = None
    phone_number: str | None = None
    samsara_driver_id: str | None = None
    error: str | None = None


class MessageChannel(Protocol):
    """One channel. Every method does vendor I/O only; callers hold no transaction."""

    name: str

    def send(self, message: Outgoing) -> Receipt: ...

    def find_sent(self, message: Outgoing) -> Receipt | None: ...

    def status(self, provider_message_id: str) -> str | None: ...

    def receive(self, since: datetime, now: datetime) -> list[Received]: ...

    def close(self) -> None: ...
