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

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session

from config import get_settings
from logic.alerts import outbox
from logic.alerts.candidate import Candidate
from logic.alerts.rules import EffectiveRule, RuleSet
from models.alert import (
    ACTIVE_STATUSES,
    Alert,
    AlertDelivery,
    AlertStatus,
    AlertType,
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

    def add(self, other: FilterReport) -> None:
        """Fold another (partial) report into this one."""
        for name, value in other.as_dict().items():
            setattr(self, name, getattr(self, name) + value)
        self.decisions.update(other.decisions)


def _entry(decision: str, reason: str, now: datetime, **extra: Any) -> dict[str, Any]:
    return {"at": now.isoformat(), "decision": decision, "reason": reason, **extra}


def record_decision(
    alert: Alert | _NewAlert, decision: str, reason: str, now: datetime, **extra: Any
) -> dict[str, Any]:
    """Append one explainable decision to the alert (reassigned: JSON columns aren't tracked)."""
    entry = _entry(decision, reason, now, **extra)
    alert.decisions = [*(alert.decisions or [])[-(MAX_DECISIONS - 1) :], entry]
    return entry


class _NewAlert:
    """An alert this pass creates, as a row: every decision about it is made before one bulk
    INSERT for all of them (ORM objects cost ~0.5 ms each to build and flush; a pass can
    create thousands)."""

    __slots__ = ("id", "row")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.id: int | None = None

    @property
    def severity(self) -> str:
        return self.row["severity"]

    @property
    def decisions(self) -> list[dict[str, Any]]:
        return self.row["decisions"]

    @decisions.setter
    def decisions(self, value: list[dict[str, Any]]) -> None:
        self.row["decisions"] = value

    @property
    def notified_at(self) -> datetime | None:
        return self.row["notified_at"]

    @notified_at.setter
    def notified_at(self, value: datetime | None) -> None:
        self.row["notified_at"] = value


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
    """Decides how an alert that just became open is announced (quiet hours, rate limit).

    Post rows are collected and inserted in one statement by `write()`, after the new alerts
    have ids; digests (one per channel) are ORM rows, created on first overflow.
    """

    def __init__(self, session: Session, now: datetime, limit: ChannelLimit) -> None:
        self.session = session
        self.now = now
        self.limit = limit
        self._posts_in_window: dict[str, int] | None = None
        self._digests: dict[str, AlertDelivery] = {}
        self._posts: list[tuple[Alert | _NewAlert, str, datetime, dict[str, Any]]] = []
        self._digested: dict[str, list[Alert | _NewAlert]] = defaultdict(list)

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

    def announce(self, alert: Alert | _NewAlert, rule: EffectiveRule, report: FilterReport) -> None:
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
            self._digested[channel].append(alert)
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
        self._posts.append((alert, channel, at, payload))
        counts[channel] += 1
        alert.notified_at = at
        report.posts_enqueued += 1
        if at == now:
            record_decision(alert, "notified", f"posting to {channel} ({rule.describe()})", now)

    def write(self) -> None:
        """Insert the collected posts and name the digested alerts (all alerts have ids now)."""
        for channel, members in self._digested.items():
            digest = self._digests[channel]
            digest.payload = {
                "alert_ids": [*digest.payload.get("alert_ids", []), *(a.id for a in members)]
            }
        if self._posts:
            self.session.execute(
                insert(AlertDelivery.__table__),
                [
                    {
                        "alert_id": alert.id,
                        "channel": channel,
                        "kind": DeliveryKind.POST.value,
                        "status": DeliveryStatus.PENDING.value,
                        "payload": payload,
                        "attempts": 0,
                        "next_attempt_at": at,
                        "created_at": self.now,
                    }
                    for alert, channel, at, payload in self._posts
                ],
            )


# Alert types whose Slack card is re-rendered whenever their text changes, not only on state
# changes (their message carries a figure people act on).
LIVE_CARD_TYPES = frozenset({AlertType.DETENTION})


def apply_filters(
    session: Session,
    candidates: list[Candidate],
    *,
    rules: RuleSet,
    evaluated_types: list[str],
    now: datetime,
    limit: ChannelLimit | None = None,
    covered: frozenset[str] = frozenset(),
) -> FilterReport:
    """Apply every noise-control decision for one evaluation pass (flushes, never commits).

    `evaluated_types` are the detectors that ran to completion: only their alerts may be
    auto-resolved (a detector that failed must not resolve everything it owns), plus the
    `covered` fingerprints a detector that saw part of the fleet did examine. Candidates of
    such a detector still dedupe into their active alerts.

    Set-based on purpose: active alerts are read as plain rows; the common outcomes (a quiet
    re-detection, a re-detection with fresher text, a new alert and its post) are written with
    one statement each; only alerts whose state changes in other ways are loaded as objects.
    """
    report = FilterReport()
    notifier = _Notifier(session, now, limit or ChannelLimit.from_settings())
    unique = _dedupe(candidates)
    seen_types = sorted({*evaluated_types, *(c.type for c in unique.values())})
    active = _active_states(session, seen_types)
    fresh = [fp for fp in unique if fp not in active]
    longest_cooldown = max([rules.for_type(t).cooldown_minutes for t in seen_types] + [24 * 60])
    recent = Alert.latest_resolved(session, fresh, now - timedelta(minutes=longest_cooldown))
    resolvable = _Resolvable(evaluated_types, covered)
    loaded = _load_changing(session, active, unique, rules, now, resolvable)
    to_announce: list[tuple[Alert | _NewAlert, EffectiveRule]] = []
    created: list[_NewAlert] = []
    quiet_bumps: list[int] = []
    refreshed: list[dict[str, Any]] = []
    live_cards: list[int] = []

    for fp, cand in unique.items():
        rule = rules.for_subject(cand.type, cand.terminal, cand.fleet_manager)
        state = active.get(fp)
        if state is not None:
            if state.id in loaded:
                _bump(session, loaded[state.id], cand, rule, now, report, to_announce)
                continue
            if cand.occurrence_key is not None:
                report.decisions[fp] = "same_event"
                continue  # an event already counted: nothing new happened
            # The common case on every pass: counted by one set-based UPDATE after the loop.
            if cand.message == state.message and cand.details == state.details:
                quiet_bumps.append(state.id)
            else:
                refreshed.append(
                    {"b_id": state.id, "b_message": cand.message, "b_details": cand.details}
                )
                if cand.type in LIVE_CARD_TYPES:
                    live_cards.append(state.id)
            report.bumped += 1
            report.decisions[fp] = "bumped"
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
        alert = _new_alert(cand, rule, now)
        created.append(alert)
        report.created += 1
        if alert.row["status"] == AlertStatus.PENDING:
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
    if refreshed:
        _refresh(session, refreshed, now)
    if live_cards:
        # A running figure (detention's clock) is the card's point: re-render it in place.
        for alert in session.scalars(select(Alert).where(Alert.id.in_(live_cards))):
            outbox.enqueue_update(session, alert, now, flush=False)
    _auto_resolve(session, loaded, active, unique, rules, now, report, resolvable)
    for alert, rule in to_announce:
        notifier.announce(alert, rule, report)
        report.opened += 1
    # Replies and updates queued above go in first, as they did when every row was flushed.
    session.flush()
    _insert_alerts(session, created)
    notifier.write()
    _escalate(session, rules, now, report)
    session.flush()
    return report


_STATE_COLUMNS = (
    Alert.id,
    Alert.type,
    Alert.status,
    Alert.fingerprint,
    Alert.occurrence_key,
    Alert.message,
    Alert.details,
    Alert.snoozed_until,
)


@dataclass(frozen=True)
class _Resolvable:
    """Which unseen active alerts may auto-resolve: those whose detector saw everything, and
    those a partial detector examined."""

    types: list[str]
    covered: frozenset[str]

    def __call__(self, state: Any) -> bool:
        return state.type in self.types or state.fingerprint in self.covered


def _active_states(session: Session, types: list[str]) -> dict[str, Any]:
    """Every not-resolved alert of `types` as a row (no ORM object), keyed by fingerprint."""
    query = select(*_STATE_COLUMNS).where(Alert.status.in_([s.value for s in ACTIVE_STATUSES]))
    query = query.where(Alert.type.in_(types))
    return {row.fingerprint: row for row in session.execute(query)}


def _steady(state: Any, now: datetime) -> bool:
    """Open, acknowledged or still snoozed: re-detection changes nothing but the counters."""
    return state.status in (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED) or (
        state.status == AlertStatus.SNOOZED
        and state.snoozed_until is not None
        and state.snoozed_until > now
    )


def _load_changing(
    session: Session,
    active: dict[str, Any],
    seen: dict[str, Candidate],
    rules: RuleSet,
    now: datetime,
    resolvable: _Resolvable,
) -> dict[int, Alert]:
    """ORM objects for the active alerts whose state changes this pass (one query).

    Those are: a new discrete event, a pending or snooze-ended alert seen again, and unseen
    alerts that auto-resolve (their detector saw everything) or whose snooze ended. Everything
    else stays a plain row.
    """
    ids = []
    for fp, state in active.items():
        cand = seen.get(fp)
        if cand is not None:
            if cand.occurrence_key is not None:
                if cand.occurrence_key != state.occurrence_key:
                    ids.append(state.id)
            elif not _steady(state, now):
                ids.append(state.id)
        elif (resolvable(state) and rules.for_type(state.type).auto_resolve) or (
            state.status == AlertStatus.SNOOZED
            and state.snoozed_until
            and state.snoozed_until <= now
        ):
            ids.append(state.id)
    if not ids:
        return {}
    return {a.id: a for a in session.scalars(select(Alert).where(Alert.id.in_(ids)))}


def _refresh(session: Session, rows: list[dict[str, Any]], now: datetime) -> None:
    """Re-detections whose text changed (an ETA moved): count them and store the new text."""
    table = Alert.__table__
    if session.get_bind().dialect.name == "postgresql":
        _refresh_postgres(session, rows, now)
    else:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                occurrences=table.c.occurrences + 1,
                last_seen_at=now,
                updated_at=now,
                message=bindparam("b_message"),
                details=bindparam("b_details", type_=table.c.details.type),
            ),
            rows,
        )
    # Objects the caller already holds must not show the old text.
    for row in rows:
        held = session.identity_map.get(identity_key(Alert, row["b_id"]))
        if held is not None:
            session.expire(held)


def _refresh_postgres(session: Session, rows: list[dict[str, Any]], now: datetime) -> None:
    """One `UPDATE … FROM (VALUES …)`: psycopg2's executemany is a round trip per row."""
    dialect = session.get_bind().dialect
    to_json = Alert.__table__.c.details.type.dialect_impl(dialect).bind_processor(dialect)
    to_json = to_json or (lambda value: value)
    connection = session.connection().connection.dbapi_connection
    with connection.cursor() as cursor:
        sql = cursor.mogrify(
            "UPDATE alert SET occurrences = alert.occurrences + 1, last_seen_at = %s, "
            "updated_at = %s, message = v.message, details = v.details FROM (VALUES ",
            (now, now),
        )
        values = b",".join(
            cursor.mogrify(
                "(%s::int, %s::text, %s::jsonb)",
                (r["b_id"], r["b_message"], to_json(r["b_details"])),
            )
            for r in rows
        )
        cursor.execute(sql + values + b") AS v(id, message, details) WHERE alert.id = v.id")


def _insert_alerts(session: Session, created: list[_NewAlert]) -> None:
    if not created:
        return
    table = Alert.__table__
    ids = session.execute(
        insert(table).returning(table.c.id, sort_by_parameter_order=True),
        [alert.row for alert in created],
    ).scalars()
    for alert, alert_id in zip(created, ids, strict=True):
        alert.id = alert_id


def _dedupe(candidates: list[Candidate]) -> dict[str, Candidate]:
    """One candidate per fingerprint: the most severe, first seen on ties."""
    unique: dict[str, Candidate] = {}
    for cand in candidates:
        seen = unique.get(cand.fingerprint)
        rank = _SEVERITY_RANK.get(cand.severity or Severity.WARNING, 1)
        if seen is None or rank > _SEVERITY_RANK.get(seen.severity or Severity.WARNING, 1):
            unique[cand.fingerprint] = cand
    return unique


def _new_alert(cand: Candidate, rule: EffectiveRule, now: datetime) -> _NewAlert:
    severity = cand.severity or rule.severity
    status = AlertStatus.PENDING if rule.min_duration_minutes > 0 else AlertStatus.OPEN
    alert = _NewAlert(
        {
            "type": cand.type,
            "severity": severity,
            "status": status,
            "fingerprint": cand.fingerprint,
            "rule_id": rule.rule_id,
            "trip_id": cand.trip_id,
            "driver_id": cand.driver_id,
            "vehicle_id": cand.vehicle_id,
            "title": cand.title[:200],
            "message": cand.message,
            "details": cand.details,
            "decisions": [],
            "occurrence_key": cand.occurrence_key,
            "first_seen_at": now,
            "last_seen_at": now,
            "occurrences": 1,
            "suppressed_count": 0,
            "notified_at": None,
            "created_at": now,
            "updated_at": now,
        }
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
    return alert


def _bump(
    session: Session,
    alert: Alert,
    cand: Candidate,
    rule: EffectiveRule,
    now: datetime,
    report: FilterReport,
    to_announce: list[tuple[Alert | _NewAlert, EffectiveRule]],
) -> None:
    """Re-detection that changes an active alert's state: a new discrete event, a pending
    alert that may open, or a snooze that ended (the quiet cases never get here)."""
    fp = alert.fingerprint
    new_event = cand.occurrence_key is not None and cand.occurrence_key != alert.occurrence_key
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
                session,
                alert,
                f":repeat: Happened again: {cand.message or cand.title}",
                now,
                flush=False,
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
        outbox.enqueue_reply(
            session, alert, ":alarm_clock: Snooze ended; still happening.", now, flush=False
        )
        outbox.enqueue_update(session, alert, now, flush=False)


def _auto_resolve(
    session: Session,
    loaded: dict[int, Alert],
    active: dict[str, Any],
    seen: dict[str, Candidate],
    rules: RuleSet,
    now: datetime,
    report: FilterReport,
    resolvable: _Resolvable,
) -> None:
    for fp, state in active.items():
        if fp in seen or state.id not in loaded:
            continue
        alert = loaded[state.id]
        rule = rules.for_type(alert.type)
        if rule.auto_resolve and resolvable(state):
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
                outbox.enqueue_update(session, alert, now, flush=False)
        elif (
            alert.status == AlertStatus.SNOOZED
            and alert.snoozed_until
            and (alert.snoozed_until <= now)
        ):
            alert.status = AlertStatus.OPEN
            alert.snoozed_until = None
            alert.updated_at = now
            record_decision(alert, "snooze_ended", "snooze ended", now)
            outbox.enqueue_update(session, alert, now, flush=False)
            report.unsnoozed += 1


def _escalate(session: Session, rules: RuleSet, now: datetime, report: FilterReport) -> None:
    """Re-post critical alerts nobody acknowledged within their rule's escalation delay.

    Due-ness is decided on plain rows; only the alerts that escalate are loaded as objects.
    """
    rows = session.execute(
        select(Alert.id, Alert.type, Alert.rule_id, Alert.notified_at)
        .where(Alert.status == AlertStatus.OPEN)
        .where(Alert.severity == Severity.CRITICAL)
        .where(Alert.escalated_at.is_(None))
        .where(Alert.notified_at.is_not(None))
        .where(Alert.notified_at <= now)
        .order_by(Alert.id)
    ).all()
    due_rules: dict[int, EffectiveRule] = {}
    for row in rows:
        rule = rules.for_type(row.type)
        if row.rule_id and row.rule_id != rule.rule_id:
            rule = next(
                (r for r in rules.scoped.get(row.type, []) if r.rule_id == row.rule_id), rule
            )
        if not rule.escalate_after_minutes or row.notified_at is None:
            continue
        if now < row.notified_at + timedelta(minutes=rule.escalate_after_minutes):
            continue
        due_rules[row.id] = rule
    if not due_rules:
        return
    due = session.scalars(select(Alert).where(Alert.id.in_(due_rules)).order_by(Alert.id))
    for alert in due:
        rule = due_rules[alert.id]
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
            flush=False,
        )
        outbox.enqueue_reply(
            session,
            alert,
            f":rotating_light: Escalated to {rule.escalation_channel}: not acknowledged within "
            f"{rule.escalate_after_minutes} min.",
            now,
            flush=False,
        )
        report.escalated += 1
