"""Slack button presses (`block_actions`) on alert messages: verify, de-duplicate, apply.

Order matters: the signature is checked over the raw body before anything is parsed; the
signature is then stored (unique) so a replay inside the 5-minute window is refused; only then
is the action applied, as the hub user the Slack user is linked to (`SlackUserLink`, else the
hub user whose username equals the Slack username), through the same audited actions the API
uses. Unlinked users and unknown alerts get a message back, not an error: Slack shows it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from config import get_settings
from db.database import session_scope
from helpers.errors import AppError, BadRequest, Conflict, Unauthorized
from logic.alerts import actions, outbox, slack
from logic.auth import audit
from logic.auth.audit import ClientInfo
from logic.auth.permissions import Permission
from logic.customers import notices
from models.alert import Alert, SlackInteraction, SlackUserLink
from models.user import User
from utils.signatures import SignatureInvalid, SignatureMissing, SignatureNotConfigured
from utils.slack_client import verify_slack_signature

log = logging.getLogger(__name__)


class SlackNotConfigured(AppError):
    status_code = 503
    code = "upstream_not_configured"


@dataclass
class InteractionResult:
    ok: bool
    text: str
    alert_id: int | None = None
    action: str | None = None
    deliveries: tuple[int, ...] = ()  # the outbox rows it queued (the Slack message's update)
    notices: tuple[int, ...] = ()  # customer notices it queued ("Notify customer")

    def as_slack_response(self) -> dict[str, Any]:
        return {"response_type": "ephemeral", "replace_original": False, "text": self.text}


def verify(
    raw_body: bytes, timestamp: str | None, signature: str | None, now: datetime, secret: str
) -> None:
    try:
        verify_slack_signature(
            raw_body,
            timestamp=timestamp,
            signature=signature,
            signing_secret=secret,
            now=now.timestamp(),
        )
    except SignatureNotConfigured as exc:
        raise SlackNotConfigured(str(exc)) from None
    except SignatureMissing as exc:
        raise BadRequest(str(exc)) from None
    except SignatureInvalid as exc:
        raise Unauthorized(str(exc)) from None


def _remember(session: Session, signature: str, timestamp: str, now: datetime) -> SlackInteraction:
    row = SlackInteraction(signature=signature, request_ts=int(float(timestamp)), received_at=now)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise Conflict("replayed Slack request: this signature was already handled") from None
    return row


def map_user(session: Session, slack_user: dict[str, Any]) -> User | None:
    slack_id = str(slack_user.get("id") or "")
    link = session.scalars(
        select(SlackUserLink).where(SlackUserLink.slack_user_id == slack_id)
    ).first()
    if link is not None:
        return session.get(User, link.user_id)
    username = str(slack_user.get("username") or "").lower()
    if not username:
        return None
    return session.scalars(
        select(User).where(func.lower(User.username) == username, User.is_active.is_(True))
    ).first()


def handle_interaction(
    session: Session,
    raw_body: bytes,
    *,
    timestamp: str | None,
    signature: str | None,
    now: datetime,
    signing_secret: str | None = None,
    client: ClientInfo | None = None,
) -> InteractionResult:
    """Verify and apply one interaction; raises 400/401/409 for bad, forged or replayed ones."""
    if signing_secret is None:
        signing_secret = get_settings().SLACK_SIGNING_SECRET.get_secret_value()
    verify(raw_body, timestamp, signature, now, signing_secret)
    record = _remember(session, str(signature), str(timestamp), now)
    try:
        form = parse_qs(raw_body.decode("utf-8"), strict_parsing=False)
        payload = json.loads(form["payload"][0])
    except (KeyError, IndexError, ValueError, UnicodeDecodeError):
        raise BadRequest("expected a form field `payload` holding JSON") from None
    if payload.get("type") != "block_actions" or not payload.get("actions"):
        return InteractionResult(True, "Nothing to do.")
    action = payload["actions"][0]
    action_id = str(action.get("action_id") or "")
    record.slack_user_id = str((payload.get("user") or {}).get("id") or "")[:40]
    record.action = action_id[:40]
    if action_id not in slack.ACTIONS:
        record.outcome = "ignored: unknown action"
        return InteractionResult(True, "That button is not handled here.")
    try:
        alert_id = int(action.get("value"))
    except (TypeError, ValueError):
        raise BadRequest("button value is not an alert id") from None
    record.alert_id = alert_id
    user = map_user(session, payload.get("user") or {})
    if user is None:
        record.outcome = "refused: unlinked Slack user"
        return InteractionResult(
            False, "Your Slack account is not linked to a Fleet Hub user; nothing was changed."
        )
    # A button press is a write like any other: the mapped user needs the permission (telling
    # a customer is a trip write, as sharing the load is).
    needed = (
        Permission.TRIPS_WRITE if action_id == slack.NOTIFY_CUSTOMER else Permission.ALERTS_WRITE
    )
    if not (user.is_superuser or needed in User.permission_names(session, user.id)):
        record.outcome = f"refused: {user.username} lacks {needed}"[:200]
        what = "notify customers" if needed == Permission.TRIPS_WRITE else "change alerts"
        return InteractionResult(
            False, f"Your Fleet Hub account may not {what}; nothing was changed."
        )
    alert = session.get(Alert, alert_id)
    if alert is None:
        record.outcome = "refused: alert not found"
        return InteractionResult(False, f"Alert #{alert_id} no longer exists.")
    if action_id == slack.NOTIFY_CUSTOMER:
        return _notify_customer(session, record, alert, user, now, client)
    try:
        if action_id == slack.ACK:
            actions.acknowledge(session, alert, user, now, via="slack", client=client)
            text = f"Alert #{alert_id} acknowledged."
        elif action_id == slack.SNOOZE:
            actions.snooze(session, alert, user, now, minutes=60, via="slack", client=client)
            text = f"Alert #{alert_id} snoozed for 1 hour."
        else:
            actions.resolve(session, alert, user, now, via="slack", client=client)
            text = f"Alert #{alert_id} resolved."
    except Conflict as exc:
        record.outcome = f"refused: {exc.detail}"[:200]
        return InteractionResult(False, exc.detail, alert_id, action_id)
    record.outcome = f"applied by {user.username}"[:200]
    return InteractionResult(True, text, alert_id, action_id)


def _notify_customer(
    session: Session,
    record: SlackInteraction,
    alert: Alert,
    user: User,
    now: datetime,
    client: ClientInfo | None,
) -> InteractionResult:
    """Queue the late load's ETA notice for its customer contacts now (audited); the email goes
    out after the commit."""
    if alert.type not in slack.LATE_TYPES or alert.trip_id is None:
        record.outcome = "refused: not a late load"
        return InteractionResult(False, "Only a late load's alert can notify its customer.")
    outcome = notices.notify_eta_now(
        session, alert.trip_id, now=now, requested_by=f"slack:{user.username}"
    )
    audit.record(
        session,
        "trip.customer_notify",
        actor=user,
        resource_type="trip",
        resource_id=alert.trip_id,
        details={"alert_id": alert.id, "via": "slack", "notices": outcome.queued},
        client=client,
    )
    record.outcome = f"notify by {user.username}: {len(outcome.queued)} queued"[:200]
    return InteractionResult(
        bool(outcome.queued),
        outcome.text,
        alert.id,
        slack.NOTIFY_CUSTOMER,
        notices=tuple(outcome.queued),
    )


def handle_interaction_unit(raw_body: bytes, **kwargs: Any) -> InteractionResult:
    """`handle_interaction` in its own committed transaction (the webhook has no user session),
    so a delivery drained right after the response already sees the queued Slack update."""
    with session_scope() as session:
        result = handle_interaction(session, raw_body, **kwargs)
        return dataclasses.replace(result, deliveries=tuple(outbox.queued_ids(session)))
