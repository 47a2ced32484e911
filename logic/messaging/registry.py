"""The message channels a deployment can use, each built from settings on first use."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from config import Settings
from logic.messaging.channel import MessageChannel
from logic.messaging.samsara_channel import SamsaraMessageChannel
from logic.messaging.sms_channel import SmsChannel
from utils.samsara_client import build_samsara_client
from utils.twilio_client import build_twilio_client

# Where Twilio posts status callbacks of the texts we send (services/messaging_webhooks.py).
STATUS_CALLBACK_PATH = "/webhooks/twilio"


class UnknownChannel(KeyError):
    """No channel registered under that name."""


@dataclass
class MessageChannels:
    """Name → `MessageChannel`, built lazily and at most once (thread-safe)."""

    factories: dict[str, Callable[[], MessageChannel]]
    _built: dict[str, MessageChannel] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, settings: Settings, *, retry_wait: float = 0.5) -> MessageChannels:
        base = settings.TWILIO_WEBHOOK_BASE_URL.rstrip("/")
        callback = f"{base}{STATUS_CALLBACK_PATH}" if base else None
        return cls(
            {
                SamsaraMessageChannel.name: lambda: SamsaraMessageChannel(
                    lambda: build_samsara_client(settings, retry_wait=retry_wait)
                ),
                SmsChannel.name: lambda: SmsChannel(
                    lambda: build_twilio_client(settings, retry_wait=retry_wait),
                    settings.TWILIO_FROM_NUMBER,
                    callback,
                ),
            }
        )

    def channel(self, name: str) -> MessageChannel:
        with self._lock:
            if name not in self._built:
                if name not in self.factories:
                    raise UnknownChannel(name)
                self._built[name] = self.factories[name]()
            return self._built[name]

    def close(self) -> None:
        with self._lock:
            for channel in self._built.values():
                channel.close()
            self._built.clear()
