"""The providers a deployment can dial, built from settings on first use (a VAPI call never
needs ElevenLabs' key). `PROVIDER_TYPES` is the one list to extend for a new provider."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from config import Settings
from logic.calls.voice.base import VoiceProvider
from logic.calls.voice.elevenlabs import ElevenLabsProvider
from logic.calls.voice.vapi import VapiProvider
from utils.elevenlabs_client import build_elevenlabs_client
from utils.vapi_client import build_vapi_client

# name → (provider class, client builder(settings, retry_wait))
PROVIDER_TYPES: dict[str, tuple[type[Any], Callable[..., Any]]] = {
    VapiProvider.name: (VapiProvider, build_vapi_client),
    ElevenLabsProvider.name: (ElevenLabsProvider, build_elevenlabs_client),
}


class UnknownProvider(KeyError):
    """No provider registered under that name."""


@dataclass
class CallProviders:
    """Name → `VoiceProvider`, each built lazily and at most once (thread-safe: the dialer
    places calls from several threads)."""

    factories: dict[str, Callable[[], VoiceProvider]]
    _built: dict[str, VoiceProvider] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, settings: Settings, *, retry_wait: float = 0.5) -> CallProviders:
        def factory(kind: type[Any], build: Callable[..., Any]) -> Callable[[], VoiceProvider]:
            return lambda: kind(lambda: build(settings, retry_wait=retry_wait))

        return cls({name: factory(*spec) for name, spec in PROVIDER_TYPES.items()})

    def voice(self, name: str) -> VoiceProvider:
        with self._lock:
            if name not in self._built:
                if name not in self.factories:
                    raise UnknownProvider(name)
                self._built[name] = self.factories[name]()
            return self._built[name]

    def vapi(self) -> Any:
        """The VAPI client itself (admin endpoints that list the vendor's calls)."""
        return self.voice(VapiProvider.name).client  # type: ignore[attr-defined]

    def elevenlabs(self) -> Any:
        return self.voice(ElevenLabsProvider.name).client  # type: ignore[attr-defined]

    def close(self) -> None:
        with self._lock:
            for provider in self._built.values():
                provider.close()
            self._built.clear()
