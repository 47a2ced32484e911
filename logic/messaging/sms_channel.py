"""SMS through Twilio Messaging behind `MessageChannel`; Twilio's webhooks as `Received` values.

Outbound texts ask for a `StatusCallback`; delivery then arrives as signed status callbacks
(`queued → sent → delivered | undelivered | failed`) and replies as signed inbound-message
webhooks. `receive` lists the inbound texts to our number since a moment, for a pass that
makes up for a webhook that never came.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from logic.messaging.channel import Outgoing, Receipt, Received
from models.driver_message import DeliveryStatus, MessageChannel
from utils.twilio_client import TwilioClient

NAME = MessageChannel.SMS.value
LOOKBACK = timedelta(minutes=5)
INBOUND_STATUSES = ("received", "receiving")


class SmsChannel:
    name = NAME

    def __init__(
        self,
        client_factory: Callable[[], TwilioClient],
        from_number: str,
        status_callback: str | None = None,
    ) -> None:
        self._factory = client_factory
        self._client: TwilioClient | None = None
        self.from_number = from_number
        self.status_callback = status_callback

    @property
    def client(self) -> TwilioClient:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def send(self, message: Outgoing) -> Receipt:
        if not message.to_number:
            raise ValueError("an SMS needs the driver's number")
        sent = self.client.send_message(
            to=message.to_number,
            from_=self.from_number,
            body=message.body,
            status_callback=self.status_callback,
        )
        return Receipt(sent.sid, sent.status or DeliveryStatus.QUEUED)

    def find_sent(self, message: Outgoing) -> Receipt | None:
        since = message.created_at - LOOKBACK
        for item in self.client.list_messages(
            to=message.to_number, from_=self.from_number, sent_after=since
        ):
            if item.body == message.body and (item.date_created or since) >= since:
                return Receipt(item.sid, item.status or DeliveryStatus.QUEUED)
        return None

    def status(self, provider_message_id: str) -> str | None:
        return self.client.get_message(provider_message_id).status

    def receive(self, since: datetime, now: datetime) -> list[Received]:
        return [
            Received(
                NAME,
                "message",
                item.date_created or now,
                provider_message_id=item.sid,
                status=DeliveryStatus.RECEIVED,
                body=item.body or "",
                phone_number=item.from_,
            )
            for item in self.client.list_messages(to=self.from_number, sent_after=since)
            if item.direction == "inbound" and (item.date_created or now) >= since
        ]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def webhook_received(form: Mapping[str, str], now: datetime) -> Received | None:
    """A verified Twilio webhook's form as a `Received`: a status callback (`MessageStatus`)
    or an inbound text (`Body`, status `received`); None for anything else."""
    sid = form.get("MessageSid") or form.get("SmsSid")
    if not sid:
        return None
    status = form.get("MessageStatus") or form.get("SmsStatus")
    if status in INBOUND_STATUSES or (status is None and "Body" in form):
        return Received(
            NAME,
            "message",
            now,
            provider_message_id=sid,
            status=DeliveryStatus.RECEIVED,
            body=form.get("Body", ""),
            phone_number=form.get("From"),
        )
    if not status:
        return None
    code = form.get("ErrorCode")
    return Received(
        NAME,
        "status",
        now,
        provider_message_id=sid,
        status=status,
        phone_number=form.get("To"),
        error=f"Twilio error {code}" if code else None,
    )
