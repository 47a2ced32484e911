"""A third voice provider that exists only in tests: one module implementing `VoiceProvider`,
its "vendor" an in-memory dict. Registering it must be all a new provider needs."""

from __future__ import annotations

import hmac
import itertools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from config import Settings
from logic.calls.voice.base import Dialed, DialSpec, EventKey, Polled
from logic.calls.voice.state import advance, end_call, hub_call_id
from models.call import Call, CallOutcome, CallStatus
from utils.signatures import SignatureInvalid, SignatureMissing

NAME = "fakevoice"
TOKEN = "fake-voice-token"
TOKEN_HEADER = "x-fake-token"
# The vendor's side: its calls by id (what it would show in its own console).
VENDOR_CALLS: dict[str, dict[str, Any]] = {}
_ids = itertools.count(1)


class FakeVoiceProvider:
    name = NAME
    label = "FakeVoice"

    def __init__(self, settings: Settings, *, retry_wait: float = 0.5) -> None:
        self.settings = settings

    def default_agent(self) -> tuple[str, str] | None:
        return None

    def verify_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> None:
        given = headers.get(TOKEN_HEADER)
        if given is None:
            raise SignatureMissing(f"{TOKEN_HEADER} header missing")
        if not hmac.compare_digest(given, TOKEN):
            raise SignatureInvalid("wrong fake token")

    @staticmethod
    def parse_event(payload: Any, raw_body: bytes) -> EventKey | None:
        if not isinstance(payload, dict) or "call" not in payload:
            raise ValueError("no call in the fake delivery")
        if payload.get("state") not in ("ringing", "done"):
            return None
        return EventKey(
            provider=NAME,
            event_type=payload["state"],
            fingerprint=f"{payload['call']}:{payload['state']}",
            provider_call_id=str(payload["call"]),
            hub_call_id=hub_call_id(payload.get("hub_call_id")),
            occurred_at=None,
        )

    @staticmethod
    def apply_event(call: Call, event_type: str, payload: dict[str, Any], *, now: datetime):
        if event_type == "ringing":
            advance(call, CallStatus.RINGING)
            return
        end_call(call, CallOutcome.COMPLETED, ended_at=now, reason="fake-hangup")
        call.summary = payload.get("summary")
        call.report_received_at = call.report_received_at or now

    def dial(self, spec: DialSpec) -> Dialed:
        call_id = f"fake-{next(_ids)}"
        VENDOR_CALLS[call_id] = {"hub_call_id": spec.call_id, "to": spec.to_number, "done": False}
        return Dialed(call_id)

    def find_placed(self, spec: DialSpec, since: datetime) -> Dialed | None:
        for call_id, record in VENDOR_CALLS.items():
            if record["hub_call_id"] == spec.call_id:
                return Dialed(call_id)
        return None

    def poll(
        self, provider_call_id: str, *, expected_end: datetime, now: datetime
    ) -> Polled | None:
        record = VENDOR_CALLS[provider_call_id]
        if not record["done"]:
            return None
        return Polled("done", {"call": provider_call_id, "state": "done", "summary": "polled"})

    def close(self) -> None:
        pass
