"""The registered voice providers, and a deployment's providers built from settings on first use
(a VAPI call never needs ElevenLabs' key). A new provider is one module and one `register` line
at the bottom of this file; webhooks, placement, reconciliation and the CLI find it here."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from config import Settings
from helpers.errors import Unprocessable
from logic.calls.voice.base import VoiceProvider
from logic.calls.voice.elevenlabs import ElevenLabsProvider
from logic.calls.voice.vapi import VapiProvider
from utils.elevenlabs_client import ElevenLabsClient
from utils.vapi_client import VapiClient

_KINDS: dict[str, type[VoiceProvider]] = {}


class UnknownProvider(KeyError):
    """No provider registered under that name."""

    def __str__(self) -> str:
        return f"no voice provider {self.args[0]!r} (known: {', '.join(provider_names())})"


class UnregisteredProviderName(Unprocessable):
    """A request names a provider nobody registered (a 422 naming the field)."""

    code = "unknown_provider"


def require_provider(name: str | None, *, loc: tuple[str | int, ...]) -> None:
    """Refuse a request naming an unregistered provider (None: the request names none)."""
    if name is not None and name not in _KINDS:
        known = ", ".join(provider_names())
        raise UnregisteredProviderName(
            f"no voice provider {name!r} (known: {known})", loc=loc, input=name
        )


def register(kind: type[VoiceProvider]) -> type[VoiceProvider]:
    """Make `kind` dialable and its webhooks receivable under `kind.name`."""
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    _KINDS.pop(name, None)


def provider_names() -> tuple[str, ...]:
    return tuple(_KINDS)


def provider_kind(name: str) -> type[VoiceProvider]:
    """The registered class; its `parse_event` / `apply_event` need no settings or client."""
    try:
        return _KINDS[name]
    except KeyError:
        raise UnknownProvider(name) from None


def provider_label(name: str) -> str:
    """How people write the provider's name (the stored name when it is not registered)."""
    kind = _KINDS.get(name)
    return kind.label if kind else name


@dataclass
class CallProviders:
    """Name → `VoiceProvider`, each built lazily and at most once (thread-safe: the dialer
    places calls from several threads)."""

    settings: Settings
    retry_wait: float = 0.5
    _built: dict[str, VoiceProvider] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, settings: Settings, *, retry_wait: float = 0.5) -> CallProviders:
        return cls(settings, retry_wait)

    def voice(self, name: str) -> VoiceProvider:
        with self._lock:
            if name not in self._built:
                self._built[name] = provider_kind(name)(self.settings, retry_wait=self.retry_wait)
            return self._built[name]

    def vapi(self) -> VapiClient:
        """The VAPI client itself (tests read the vendor's calls through it)."""
        return self.voice(VapiProvider.name).client  # type: ignore[attr-defined]

    def elevenlabs(self) -> ElevenLabsClient:
        return self.voice(ElevenLabsProvider.name).client  # type: ignore[attr-defined]

    def close(self) -> None:
        with self._lock:
            for provider in self._built.values():
                provider.close()
            self._built.clear()


register(VapiProvider)
register(ElevenLabsProvider)
