"""ElevenLabs behind `VoiceProvider`: Twilio outbound call, find a conversation by agent, user
and start time (confirmed by its `hub_call_id` variable), poll the conversation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from logic.calls.voice.base import Dialed, DialSpec, Polled
from utils.elevenlabs_client import ElevenLabsClient

NAME = "elevenlabs"
FINISHED = ("done", "failed")


class ElevenLabsProvider:
    name = NAME

    def __init__(self, client_factory: Callable[[], ElevenLabsClient]) -> None:
        self._factory = client_factory
        self._client: ElevenLabsClient | None = None

    @property
    def client(self) -> ElevenLabsClient:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def dial(self, spec: DialSpec) -> Dialed:
        started = self.client.outbound_call(
            agent_id=spec.assistant_id,
            agent_phone_number_id=spec.phone_number_id,
            to_number=spec.to_number,
            dynamic_variables=spec.variables,
            user_id=spec.user_id,
        )
        return Dialed(started.conversation_id, started.call_sid)

    def find_placed(self, spec: DialSpec, since: datetime) -> Dialed | None:
        """Conversation summaries carry no variables: narrow by agent, user and start time,
        then read each candidate for its `hub_call_id`."""
        candidates = self.client.list_conversations(
            agent_id=spec.assistant_id, started_after=since, user_id=spec.user_id
        )
        for summary in candidates:
            conversation = self.client.get_conversation(summary.conversation_id)
            if str(conversation.dynamic_variables.get("hub_call_id")) == str(spec.call_id):
                return Dialed(conversation.conversation_id, conversation.call_sid)
        return None

    def poll(
        self, provider_call_id: str, *, expected_end: datetime, now: datetime
    ) -> Polled | None:
        conversation = self.client.get_conversation(provider_call_id)
        if conversation.status not in FINISHED:
            return None
        return Polled(
            "post_call_transcription",
            {"type": "post_call_transcription", "data": conversation.raw, "source": "poll"},
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
