"""Slack messages for alerts: Block Kit rendering (the outbox in `outbox.py` sends them).

Messages are rendered when sent, from the alert's current state, so a post delayed by an outage
already shows an acknowledgement made meanwhile, and an update never shows stale facts.
Buttons carry the alert id; their `action_id`s are what `POST /slack/interactions` maps.
Times read in the alert's local zone with the zone named, "Thu 14:05 CST" (`alert_zone`, the same
rule as the detectors' messages), and durations as "1 h 25 min".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from helpers.time_utils import (
    format_duration,
    format_local,
    is_valid_timezone,
    parse_vendor_timestamp,
    zone_for_region,
)
from logic.alerts.rules import default_rule
from models.alert import (
    Alert,
    AlertRule,
    AlertStatus,
    AlertType,
    Severity,
)
from models.driver import Driver
from models.trip import StopStatus, TripStop

ACK = "ack_alert"
SNOOZE = "snooze_alert_1h"
RESOLVE = "resolve_alert"
NOTIFY_CUSTOMER = "notify_customer"  # a late load's ETA notice to its customer, now
ACTIONS = (ACK, SNOOZE, RESOLVE, NOTIFY_CUSTOMER)
# Alerts about a load's lateness, whose card offers "Notify customer".
LATE_TYPES = (AlertType.LATE_FOR_APPOINTMENT, AlertType.CANNOT_LEGALLY_MAKE_APPOINTMENT)

_EMOJI = {Severity.CRITICAL: ":rotating_light:", Severity.WARNING: ":warning:"}
_STATUS_LINE = {
    AlertStatus.ACKNOWLEDGED: ":eyes: Acknowledged",
    AlertStatus.SNOOZED: ":zzz: Snoozed",
    AlertStatus.RESOLVED: ":white_check_mark: Resolved",
}
# (details key, label, how to show the value): "time" (ISO, shown local), "duration" (minutes).
_FIELDS = (
    ("driver_name", "Driver", "text"),
    ("unit_number", "Truck", "text"),
    ("load_number", "Load", "text"),
    ("next_stop", "Next stop", "text"),
    ("facility", "Facility", "text"),
    ("held_minutes", "Held", "duration"),
    ("detention_minutes", "Billable", "duration"),
    ("eta", "ETA", "time"),
    ("late_minutes", "Late by", "duration"),
    ("drive_minutes_left", "Drive time left", "duration"),
    ("speed_mph", "Speed", "mph"),
    ("event", "Event", "text"),
    ("minutes", "For", "duration"),
    ("started_at", "Since", "time"),
    ("occurred_at", "At", "time"),
    ("stopped_since", "Stopped since", "time"),
    ("last_position_at", "Last position", "time"),
)


def _fmt_time(value: datetime | None, zone: str | None) -> str:
    return format_local(value, zone) if value else "—"


def _field_value(value: Any, kind: str, zone: str | None) -> str:
    """A details value as people read it; anything unexpected is shown as it is."""
    try:
        if kind == "time":
            when = parse_vendor_timestamp(value, epoch=None)
            return format_local(when, zone) if when else "—"
        if kind == "duration":
            return format_duration(float(value))
        if kind == "mph":
            return f"{float(value):g} mph"
    except (TypeError, ValueError):
        return str(value)  # not the type its field promises: show it as it came
    return str(value)


def alert_zone(session: Session, alert: Alert) -> str | None:
    """The IANA zone an alert's times are shown in: a late load's next stop's (from its state),
    else the driver's, else the rule's quiet-hours zone (the desk's), as the detectors' messages;
    None (no valid zone) means UTC."""
    if alert.type in LATE_TYPES and alert.trip_id is not None:
        state = session.scalar(
            select(TripStop.state)
            .where(TripStop.trip_id == alert.trip_id, TripStop.departed_at.is_(None))
            .where(TripStop.status.notin_([StopStatus.DEPARTED.value, StopStatus.SKIPPED.value]))
            .order_by(TripStop.sequence)
            .limit(1)
        )
        if zone := zone_for_region(state):
            return zone
    driver = session.get(Driver, alert.driver_id) if alert.driver_id is not None else None
    rule = session.get(AlertRule, alert.rule_id) if alert.rule_id is not None else None
    desk = rule.quiet_hours_timezone if rule else default_rule(alert.type).quiet_hours_timezone
    for zone in (driver and driver.timezone, desk):
        if zone and is_valid_timezone(zone):
            return zone
    return None


def render_alert(
    alert: Alert, *, escalated: bool = False, actor: str | None = None, zone: str | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, blocks) for the alert's message in its current state, times in `zone`."""
    emoji = _EMOJI.get(alert.severity, ":information_source:")
    prefix = "ESCALATED: " if escalated else ""
    header = f"{emoji} {prefix}{alert.title}"[:150]
    text = f"{prefix}{alert.title} — {alert.message}"[:3000]
    fields = [
        {"type": "mrkdwn", "text": f"*Severity:*\n{alert.severity.title()}"},
        {"type": "mrkdwn", "text": f"*Status:*\n{alert.status.title()}"},
    ]
    details = alert.details or {}
    for key, label, kind in _FIELDS:
        if details.get(key) not in (None, "") and len(fields) < 10:
            value = _field_value(details[key], kind, zone)
            fields.append({"type": "mrkdwn", "text": f"*{label}:*\n{value}"[:2000]})
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header}},
        {"type": "section", "fields": fields},
    ]
    if alert.message:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": alert.message[:3000]}})
    context = (
        f"alert #{alert.id} · {alert.type} · first seen {_fmt_time(alert.first_seen_at, zone)}"
        f" · seen {alert.occurrences} times"
    )
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    status_line = _STATUS_LINE.get(alert.status)
    if status_line:
        by = f" by {actor}" if actor else ""
        when = {
            AlertStatus.ACKNOWLEDGED: alert.acknowledged_at,
            AlertStatus.RESOLVED: alert.resolved_at,
            AlertStatus.SNOOZED: alert.snoozed_until,
        }[alert.status]
        label = "until" if alert.status == AlertStatus.SNOOZED else "at"
        line = f"{status_line}{by} {label} {_fmt_time(when, zone)}"
        if alert.status == AlertStatus.RESOLVED and alert.resolution:
            line += f" — {alert.resolution}"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": line}]})
    buttons = _buttons(alert)
    if buttons:
        blocks.append({"type": "actions", "block_id": f"alert-{alert.id}", "elements": buttons})
    return text, blocks


def _buttons(alert: Alert) -> list[dict[str, Any]]:
    value = str(alert.id)
    ack = {
        "type": "button",
        "action_id": ACK,
        "text": {"type": "plain_text", "text": "Acknowledge"},
        "style": "primary",
        "value": value,
    }
    snooze = {
        "type": "button",
        "action_id": SNOOZE,
        "text": {"type": "plain_text", "text": "Snooze 1h"},
        "value": value,
    }
    resolve = {
        "type": "button",
        "action_id": RESOLVE,
        "text": {"type": "plain_text", "text": "Resolve"},
        "style": "danger",
        "value": value,
    }
    notify = []
    if alert.type in LATE_TYPES and alert.trip_id is not None:
        notify = [
            {
                "type": "button",
                "action_id": NOTIFY_CUSTOMER,
                "text": {"type": "plain_text", "text": "Notify customer"},
                "value": value,
                "confirm": {
                    "title": {"type": "plain_text", "text": "Notify the customer?"},
                    "text": {
                        "type": "plain_text",
                        "text": "Email this load's current ETA to the customer's contacts now.",
                    },
                    "confirm": {"type": "plain_text", "text": "Send"},
                    "deny": {"type": "plain_text", "text": "Cancel"},
                },
            }
        ]
    if alert.status in (AlertStatus.OPEN, AlertStatus.SNOOZED):
        return [ack, snooze, resolve, *notify]
    if alert.status == AlertStatus.ACKNOWLEDGED:
        return [resolve, *notify]
    return []


def render_digest(alerts: list[Alert], channel: str) -> tuple[str, list[dict[str, Any]]]:
    text = f"{len(alerts)} more alerts in {channel} (rate limit reached)"
    lines = [
        f"{_EMOJI.get(a.severity, ':information_source:')} #{a.id} *{a.title}* — {a.status}"
        for a in alerts[:40]
    ]
    if len(alerts) > 40:
        lines.append(f"…and {len(alerts) - 40} more; see the hub.")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Alert digest: {len(alerts)}"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000] or "—"}},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": "Rolled up to stay under the rate limit."}],
        },
    ]
    return text, blocks
