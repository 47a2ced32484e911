"""In-cab messages through Samsara (`/v1/fleet/messages`) behind `MessageChannel`.

Samsara's legacy messages carry no id: a message is known by driver, sender type and send time
(`dispatch:<driverId>:<sentAtMs>` for ours, `driver:<driverId>:<sentAtMs>` for a driver's), and a
message we sent is matched in the list by driver and text. Replies and read flags are polled
(`receive`), over a window that reaches back to the oldest message still waiting to be read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from logic.messaging.channel import Outgoing, Receipt, Received
from models.driver_message import DeliveryStatus, MessageChannel
from utils.samsara_client import FleetMessage, SamsaraClient

NAME = MessageChannel.SAMSARA_MESSAGE.value
# A send in doubt is looked for among messages from a little before its row was queued.
LOOKBACK = timedelta(minutes=5)


def _sent_at(message: FleetMessage) -> datetime:
    return datetime.fromtimestamp(message.sent_at_ms / 1000, tz=UTC)


def message_key(message: FleetMessage) -> str:
    side = "driver" if message.sender.type == "driver" else "dispatch"
    return f"{side}:{message.driver_id}:{message.sent_at_ms}"


def _state(message: FleetMessage) -> str:
    return DeliveryStatus.READ if message.is_read else DeliveryStatus.SENT


class SamsaraMessageChannel:
    name = NAME

    def __init__(self, client_factory: Callable[[], SamsaraClient], clock=None) -> None:
        self._factory = client_factory
        self._client: SamsaraClient | None = None
        self._clock = clock or (lambda: datetime.now(UTC))

    @property
    def client(self) -> SamsaraClient:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def send(self, message: Outgoing) -> Receipt:
        if not message.samsara_driver_id or not message.samsara_driver_id.isdigit():
            raise ValueError("an in-cab message needs the driver's numeric Samsara id")
        self.client.send_message(driver_ids=[int(message.samsara_driver_id)], text=message.body)
        # Samsara answers without an id or a time; the next poll names the message.
        return Receipt(None, DeliveryStatus.SENT)

    def find_sent(self, message: Outgoing) -> Receipt | None:
        now = self._clock()
        since = message.created_at - LOOKBACK
        for item in self.client.list_messages(end=now, duration_ms=_ms(now - since)):
            if (
                item.sender.type != "driver"
                and str(item.driver_id) == message.samsara_driver_id
                and item.text == message.body
                and _sent_at(item) >= since
            ):
                return Receipt(message_key(item), _state(item))
        return None

    def status(self, provider_message_id: str) -> str | None:
        sent_ms = provider_message_id.rsplit(":", 1)[-1]
        sent = datetime.fromtimestamp(int(sent_ms) / 1000, tz=UTC)
        for item in self.client.list_messages(end=sent + timedelta(seconds=1), duration_ms=2000):
            if message_key(item) == provider_message_id:
                return _state(item)
        return None

    def receive(self, since: datetime, now: datetime) -> list[Received]:
        received = []
        for item in self.client.list_messages(end=now, duration_ms=_ms(now - since)):
            at = _sent_at(item)
            if item.sender.type == "driver":
                received.append(
                    Received(
                        NAME,
                        "message",
                        at,
                        provider_message_id=message_key(item),
                        status=DeliveryStatus.RECEIVED,
                        body=item.text,
                        samsara_driver_id=str(item.driver_id),
                    )
                )
            else:
                received.append(
                    Received(
                        NAME,
                        "status",
                        at,
                        provider_message_id=message_key(item),
                        status=_state(item),
                        body=item.text,
                        samsara_driver_id=str(item.driver_id),
                    )
                )
        return received

    def close(self) -> None:
        if self._client is not None:
            self._client.http.close()
            self._client = None


def _ms(span: timedelta) -> int:
    return max(int(span.total_seconds() * 1000), 1)
