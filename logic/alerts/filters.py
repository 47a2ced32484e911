"""Noise control: turn a pass's candidates into alert changes and outbox rows, explainably.

Decisions, in order, for each candidate: dedupe into the one active alert of its fingerprint
(bump occurrences; a new discrete event is a re-occurrence → thread reply); cooldown after a
recent resolve (suppressed, counted on the resolved alert); minimum duration (alert stays
`pending` until the condition has lasted long enough); quiet hours in the rule's time zone
(non-critical posts are deferred to the end of the window); per-channel rate limit (overflow is
rolled into one digest message). Active alerts whose condition cleared are auto-resolved.
Every decision is appended to `Alert.decisions`, which `GET /alerts/{id}` shows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlmodel import Session

from config import get_settings
from logic.alerts import outbox
from logic.alerts.candidate import Candidate
from logic.alerts.rules import EffectiveRule, RuleSet
from models.alert import (
    Alert,
    AlertDelivery,
    AlertStatus,
    DeliveryKind,
    DeliveryStatus,
    Severity,
)

MAX_DECISIONS = 50
_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True)
class ChannelLimit:
    """At most `max_posts` alert messages per channel per `window`; the rest go to a digest."""

    max_posts: int = 20
    window: timedelta = timedelta(minutes=10)
    digest_delay: timedelta = timedelta(minutes=5)

    @classmethod
    def from_settings(cls) -> ChannelLimit:
        settings = get_settings()
        return cls(
            max_posts=settings.ALERT_CHANNEL_MAX_POSTS,
            window=timedelta(minutes=settings.ALERT_CHANNEL_WINDOW_MINUTES),
            digest_delay=timedelta(minutes=settings.ALERT_DIGEST_DELAY_MINUTES),
        )


@dataclass
class FilterReport:
    created: int = 0
    pending: int = 0
    opened: int = 0
    bumped: int = 0
    reoccurred: int = 0
    suppressed_cooldown: int = 0
    deferred_quiet_hours: int = 0
    digested: int = 0
    auto_resolved: int = 0
    escalated: int = 0
    unsnoozed: int = 0
    posts_enqueued: int = 0
    decisions: dict[str, str] = field(default_factory=dict)  # fingerprint → last decision

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data.pop("decisions")
        return data


def record_decision(
    alert: Alert, decision: str, reason: str, now: datetime, **extra: Any
) -> dict[str, Any]:
    """Append one explainable decision to the alert (reassigned: JSON columns aren't tracked)."""
    entry = {"at": now.isoformat(), "decision": decision, "reason": reason, **extra}
    alert.decisions = [*(alert.decisions or [])[-(MAX_DECISIONS - 1) :], entry]
    return entry


def quiet_window_end(
    now: datetime, start: str | None, end: str | None, timezone: str
) -> datetime | None:
    """End of the quiet window containing `now` (aware UTC), or None when outside it.

    `start`/`end` are wall-clock HH:MM in `timezone`; a window may cross midnight (22:00-06:00).
    Wall-clock arithmetic goes through the zone, so DST days get the right UTC instant.
    """
    if not start or not end or start == end:
        return None
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    s, e = _hhmm(start), _hhmm(end)
    t = local.time()
    if s < e:
        inside = s <= t < e
        end_day = local.date()
    else:  # crosses midnight
        inside = t >= s or t < e
        end_day = local.date() + timedelta(days=1) if t >= s else local.date()
    if not inside:
        return None
    return datetime.combine(end_day, e, tzinfo=zone).astimezone(now.tzinfo)


def _hhmm(value: str) -> time:
    hours, _, minutes = value.partition(":")
    return time(int(hours), int(minutes))


class _Notifier:
    """Decides how an alert that just became open is announced (quiet hours, rate limit)."""

    def __init__(self, session: Session, now: datetime, limit: ChannelLimit) -> None:
        self.session = session
        self.now = now
        self.limit = limit
        self._posts_in_window: dict[str, int] | None = None
        self._digests: dict[str, AlertDelivery] = {}

    def _window_counts(self) -> dict[str, int]:
        if self._posts_in_window is None:
            since = self.now - self.limit.window
            query = (
                select(AlertDelivery.channel, func.count())
                .where(AlertDelivery.kind == DeliveryKind.POST)
                .where(AlertDelivery.created_at >= since)
                .group_by(AlertDelivery.channel)
            )
            self._posts_in_window = defaultdict(int, dict(self.session.execute(query).all()))
        return self._posts_in_window

    def _digest_for(self, channel: str) -> AlertDelivery:
        digest = self._digests.get(channel)
        if digest is None:
            digest = self.session.scalars(
                select(AlertDelivery)
                .where(AlertDelivery.kind == DeliveryKind.DIGEST)
                .where(AlertDelivery.channel == channel)
                .where(AlertDelivery.status == DeliveryStatus.PENDING)
                .order_by(AlertDelivery.id)
                .limit(1)
            ).first()
            if digest is None:
                digest = outbox.enqueue(
                    self.session,
                    channel=channel,
                    kind=DeliveryKind.DIGEST,
                    now=self.now,
                    at=self.now + self.limit.digest_delay,
                    payload={"alert_ids": []},
                )
            self._digests[channel] = digest
        return digest

    def announce(self, alert: Alert, rule: EffectiveRule, report: FilterReport) -> None:
        now = self.now
        channel = rule.channel
        quiet_end = quiet_window_end(
            now, rule.quiet_hours_start, rule.quiet_hours_end, rule.quiet_hours_timezone
        )
        window = f"{rule.quiet_hours_start}-{rule.quiet_hours_end} {rule.quiet_hours_timezone}"
        at = now
        payload: dict[str, Any] = {}
        if quiet_end is not None and alert.severity != Severity.CRITICAL:
            at = quiet_end
            payload["deferred"] = "quiet_hours"
            record_decision(
                alert,
                "deferred",
                f"quiet hours {window} ({rule.describe()}); posting at {quiet_end.isoformat()}",
                now,
            )
            report.deferred_quiet_hours += 1
        elif quiet_end is not None:
            record_decision(
                alert, "quiet_hours_bypassed", f"critical alerts ignore quiet hours {window}", now
            )
        counts = self._window_counts()
        if at == now and counts[channel] >= self.limit.max_posts:
            digest = self._digest_for(channel)
            digest.payload = {"alert_ids": [*digest.payload.get("alert_ids", []), alert.id]}
            minutes = int(self.limit.window.total_seconds() // 60)
            record_decision(
                alert,
                "digested",
                f"{channel} already had {counts[channel]} alert posts in the last {minutes} min "
                f"(limit {self.limit.max_posts}); rolled into digest #{digest.id}",
                now,
                digest_id=digest.id,
            )
            alert.notified_at = now
            report.digested += 1
            return
        outbox.enqueue(
            self.session,
            alert=alert,
            channel=channel,
            kind=DeliveryKind.POST,
            now=now,
            at=at,
            payload=payload,
        )
        counts[channel] += 1
        alert.notified_at = at
        report.posts_enqueued += 1
        if at == now:
            record_decision(alert, "notified", f"posting to {channel} ({rule.describe()})", now)


def apply_filters(
    session: Session,
    candidates: list[Candidate],
    *,
    rules: RuleSet,
    evaluated_types: list[str],
    now: datetime,
    limit: ChannelLimit | None = None,
) -> FilterReport:
    """Apply every noise-control decision for one evaluation pass (flushes, never commits).

    `evaluated_types` are the detectors that ran to completion: only their alerts may be
    auto-resolved (a detector that failed must not resolve everything it owns).
    """
    report = FilterReport()
    notifier = _Notifier(session, now, limit or ChannelLimit.from_settings())
    active = Alert.active_by_fingerprint(session, types=evaluated_types)
    unique = _dedupe(candidates)
    fresh = [fp for fp in unique if fp not in active]
    longest_cooldown = max(
        [rules.for_type(t).cooldown_minutes for t in evaluated_types] + [24 * 60]
    )
    recent = Alert.latest_resolved(session, fresh, now - timedelta(minutes=longest_cooldown))
    to_announce: list[tuple[Alert, EffectiveRule]] = []
    quiet_bumps: list[int] = []

    for fp, cand in unique.items():
        rule = rules.for_subject(cand.type, cand.terminal, cand.fleet_manager)
        alert = active.get(fp)
        if alert is not None:
            _bump(session, alert, cand, rule, now, report, to_announce, quiet_bumps)
            continue
        previous = recent.get(fp)
        if (
            previous is not None
            and cand.occurrence_key is not None
            and previous.occurrence_key == cand.occurrence_key
        ):
            continue  # the same discrete event, already alerted and resolved
        if previous is not None and previous.resolved_at is not None:
            until = previous.resolved_at + timedelta(minutes=rule.cooldown_minutes)
            if now < until:
                previous.suppressed_count += 1
                previous.updated_at = now
                if previous.suppressed_count == 1 or previous.suppressed_count % 10 == 0:
                    record_decision(
                        previous,
                        "suppressed",
                        f"detected again during the {rule.cooldown_minutes} min cooldown after "
                        f"resolve (until {until.isoformat()}); {previous.suppressed_count} "
                        "suppressed so far",
                        now,
                    )
                report.suppressed_cooldown += 1
                report.decisions[fp] = "suppressed_cooldown"
                continue
        alert = _create(session, cand, rule, now)
        report.created += 1
        if alert.status == AlertStatus.PENDING:
            report.pending += 1
            report.decisions[fp] = "pending_min_duration"
        else:
            to_announce.append((alert, rule))
            report.decisions[fp] = "opened"

    if quiet_bumps:
        session.execute(
            update(Alert)
            .where(Alert.id.in_(quiet_bumps))
            .values(occurrences=Alert.occurrences + 1, last_seen_at=now, updated_at=now)
            .execution_options(synchronize_session="evaluate")
        )
    _auto_resolve(session, active, unique, rules, now, report)
    if to_announce:
        session.flush()  # alerts need ids before their outbox rows and digests name them
        for alert, rule in to_announce:
            notifier.announce(alert, rule, report)
            report.opened += 1
    _escalate(session, rules, now, report)
    session.flush()
    return report


def _dedupe(candidates: list[Candidate]) -> dict[str, Candidate]:
    """One candidate per fingerprint: the most severe, first seen on ties."""
    unique: dict[str, Candidate] = {}
    for cand in candidates:
        seen = unique.get(cand.fingerprint)
        rank = _SEVERITY_RANK.get(cand.severity or Severity.WARNING, 1)
        if seen is None or rank > _SEVERITY_RANK.get(seen.severity or Severity.WARNING, 1):
            unique[cand.fingerprint] = cand
    return unique


def _create(session: Session, cand: Candidate, rule: EffectiveRule, now: datetime) -> Alert:
    severity = cand.severity or rule.severity
    status = AlertStatus.PENDING if rule.min_duration_minutes > 0 else AlertStatus.OPEN
    alert = Alert(
        type=cand.type,
        severity=severity,
        status=status,
        fingerprint=cand.fingerprint,
        rule_id=rule.rule_id,
        trip_id=cand.trip_id,
        driver_id=cand.driver_id,
        vehicle_id=cand.vehicle_id,
        title=cand.title[:200],
        message=cand.message,
        details=cand.details,
        occurrence_key=cand.occurrence_key,
        first_seen_at=now,
        last_seen_at=now,
        created_at=now,
        updated_at=now,
    )
    record_decision(alert, "detected", cand.message or cand.title, now, rule=rule.describe())
    if status == AlertStatus.PENDING:
        record_decision(
            alert,
            "pending",
            f"waiting for the condition to last {rule.min_duration_minutes} min "
            f"({rule.describe()}) before notifying",
            now,
        )
    session.add(alert)
    return alert


def _bump(
    session: Session,
    alert: Alert,
    cand: Candidate,
    rule: EffectiveRule,
    now: datetime,
    report: FilterReport,
    to_announce: list[tuple[Alert, EffectiveRule]],
    quiet_bumps: list[int],
) -> None:
    """Re-detection of an active alert: count it, refresh its facts, maybe change its state."""
    fp = alert.fingerprint
    new_event = cand.occurrence_key is not None and cand.occurrence_key != alert.occurrence_key
    if cand.occurrence_key is not None and not new_event:
        report.decisions[fp] = "same_event"
        return  # an event already counted: nothing new happened
    steady = alert.status in (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED) or (
        alert.status == AlertStatus.SNOOZED
        and alert.snoozed_until is not None
        and alert.snoozed_until > now
    )
    if steady and not new_event and cand.message == alert.message and cand.details == alert.details:
        # The common case on every pass: counted by one set-based UPDATE after the loop.
        quiet_bumps.append(alert.id)
        report.bumped += 1
        report.decisions[fp] = "bumped"
        return
    alert.occurrences += 1
    alert.last_seen_at = now
    alert.updated_at = now
    alert.message = cand.message
    alert.details = cand.details
    report.bumped += 1
    report.decisions[fp] = "bumped"
    if new_event:
        alert.occurrence_key = cand.occurrence_key
        report.reoccurred += 1
        record_decision(alert, "reoccurred", cand.message or cand.title, now)
        if alert.status != AlertStatus.PENDING:
            outbox.enqueue_reply(
                session, alert, f":repeat: Happened again: {cand.message or cand.title}", now
            )
    if alert.status == AlertStatus.PENDING:
        held = now - alert.first_seen_at
        if held >= timedelta(minutes=rule.min_duration_minutes):
            alert.status = AlertStatus.OPEN
            record_decision(
                alert,
                "opened",
                f"condition lasted {int(held.total_seconds() // 60)} min "
                f"(minimum {rule.min_duration_minutes} min)",
                now,
            )
            to_announce.append((alert, rule))
            report.decisions[fp] = "opened"
    elif alert.status == AlertStatus.SNOOZED and alert.snoozed_until and alert.snoozed_until <= now:
        alert.status = AlertStatus.OPEN
        alert.snoozed_until = None
        report.unsnoozed += 1
        record_decision(alert, "snooze_ended", "snooze ended and the condition persists", now)
        outbox.enqueue_reply(session, alert, ":alarm_clock: Snooze ended; still happening.", now)
        outbox.enqueue_update(session, alert, now)


def _auto_resolve(
    session: Session,
    active: dict[str, Alert],
    seen: dict[str, Candidate],
    rules: RuleSet,
    now: datetime,
    report: FilterReport,
) -> None:
    for fp, alert in active.items():
        if fp in seen:
            continue
        rule = rules.for_type(alert.type)
        if rule.auto_resolve:
            was_pending = alert.status == AlertStatus.PENDING
            alert.status = AlertStatus.RESOLVED
            alert.resolved_at = now
            alert.updated_at = now
            alert.snoozed_until = None
            alert.resolution = (
                "condition cleared before the minimum duration"
                if was_pending
                else "auto-resolved: condition cleared"
            )
            record_decision(alert, "auto_resolved", alert.resolution, now)
            report.auto_resolved += 1
            report.decisions[fp] = "auto_resolved"
            if not was_pending:
                outbox.enqueue_update(session, alert, now)
        elif (
            alert.status == AlertStatus.SNOOZED
            and alert.snoozed_until
            and (alert.snoozed_until <= now)
        ):
            alert.status = AlertStatus.OPEN
            alert.snoozed_until = None
            alert.updated_at = now
            record_decision(alert, "snooze_ended", "snooze ended", now)
            outbox.enqueue_update(session, alert, now)
            report.unsnoozed += 1


def _escalate(session: Session, rules: RuleSet, now: datetime, report: FilterReport) -> None:
    """Re-post critical alerts nobody acknowledged within their rule's escalation delay."""
    candidates = session.scalars(
        select(Alert)
        .where(Alert.status == AlertStatus.OPEN)
        .where(Alert.severity == Severity.CRITICAL)
        .where(Alert.escalated_at.is_(None))
        .where(Alert.notified_at.is_not(None))
        .where(Alert.notified_at <= now)
    ).all()
    for alert in candidates:
        rule = rules.for_type(alert.type)
        if alert.rule_id and alert.rule_id != rule.rule_id:
            rule = next(
                (r for r in rules.scoped.get(alert.type, []) if r.rule_id == alert.rule_id), rule
            )
        if not rule.escalate_after_minutes or alert.notified_at is None:
            continue
        due = alert.notified_at + timedelta(minutes=rule.escalate_after_minutes)
        if now < due:
            continue
        alert.escalated_at = now
        alert.updated_at = now
        record_decision(
            alert,
            "escalated",
            f"critical and not acknowledged {rule.escalate_after_minutes} min after "
            f"notification; re-posted to {rule.escalation_channel}",
            now,
        )
        outbox.enqueue(
            session,
            alert=alert,
            channel=rule.escalation_channel,
            kind=DeliveryKind.ESCALATION,
            now=now,
        )
        outbox.enqueue_reply(
            session,
            alert,
            f":rotating_light: Escalated to {rule.escalation_channel}: not acknowledged within "
            f"{rule.escalate_after_minutes} min.",
            now,
        )
        report.escalated += 1
