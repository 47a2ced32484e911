"""VAPI behind `VoiceProvider`: `POST /call`, find a call by `assistantOverrides.metadata`,
poll `GET /call/{id}`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from logic.calls.voice.base import Dialed, DialSpec, Polled
from utils.vapi_client import VapiCall, VapiClient

NAME = "vapi"
# VAPI marks a call ended before it attaches its end time and analysis (summary, structured
# data); a poll in between would finalize the call without insights, so such a call is given
# this long past its expected end before it is filled as it is.
ANALYSIS_GRACE = timedelta(minutes=10)


def _dialed(call: VapiCall) -> Dialed:
    return Dialed(call.id, call.raw.get("phoneCallProviderId"))


class VapiProvider:
    name = NAME

    def __init__(self, client_factory: Callable[[], VapiClient]) -> None:
        self._factory = client_factory
        self._client: VapiClient | None = None

    @property
    def client(self) -> VapiClient:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def dial(self, spec: DialSpec) -> Dialed:
        created = self.client.create_call(
            assistant_id=spec.assistant_id,
            phone_number_id=spec.phone_number_id,
            customer_number=spec.to_number,
            variable_values=spec.variables,
            metadata={
                "hub_call_id": spec.call_id,
                "driver_id": spec.driver_id,
                "alert_id": spec.alert_id,
            },
            customer_name=spec.customer_name or None,
            customer_external_id=spec.user_id,
            name=f"{spec.purpose} #{spec.call_id}",
            server_url=f"{spec.server_url.rstrip('/')}/webhooks/vapi" if spec.server_url else None,
        )
        return _dialed(created)

    def find_placed(self, spec: DialSpec, since: datetime) -> Dialed | None:
        """VAPI cannot filter by metadata: list the assistant's calls since the dial began and
        match `hub_call_id` here (a handful of calls per minute per assistant)."""
        calls = self.client.list_calls(
            assistant_id=spec.assistant_id, created_after=since, limit=1000
        )
        for call in calls:
            if str(call.metadata.get("hub_call_id")) == str(spec.call_id):
                return _dialed(call)
        return None

    def poll(
        self, provider_call_id: str, *, expected_end: datetime, now: datetime
    ) -> Polled | None:
        polled = self.client.get_call(provider_call_id)
        if not polled.is_ended:
            return None
        raw = polled.raw
        analysed = "analysis" in raw and raw.get("endedAt")
        if not analysed and now - expected_end < ANALYSIS_GRACE:
            return None
        message = {
            "type": "end-of-call-report",
            "endedReason": raw.get("endedReason"),
            "startedAt": raw.get("startedAt"),
            "endedAt": raw.get("endedAt"),
            "cost": raw.get("cost"),
            "artifact": raw.get("artifact") or {},
            "analysis": raw.get("analysis") or {},
            "call": raw,
        }
        return Polled("end-of-call-report", {"message": message, "source": "poll"})

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
