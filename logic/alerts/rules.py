"""Effective alert rules: the stored `AlertRule` rows over built-in defaults for every type.

A type with no stored rule still runs with its defaults, so a fresh install alerts out of the
box; storing a disabled unscoped rule switches the type off. The unscoped rule of a type
supplies the detector thresholds (`params`); scoped rules (terminal / fleet manager) override
routing and noise settings for matching subjects — the most specific match wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlmodel import Session

from config import get_settings
from models.alert import AlertRule, AlertType, Severity

# Thresholds are the ones an operations desk starts from; every one is overridable per rule.
DEFAULTS: dict[str, dict[str, Any]] = {
    AlertType.LATE_FOR_APPOINTMENT: {
        "severity": Severity.CRITICAL,
        "params": {"grace_minutes": 0},
        "escalate_after_minutes": 15,
        # Still unacknowledged: a check call to the driver (their reported ETA acknowledges
        # the alert), then the on-call is paged.
        "escalation_steps": (
            {"kind": "ai_call", "after_minutes": 20, "acknowledge_on": "eta_reported"},
            {"kind": "page_oncall", "after_minutes": 45},
        ),
        "auto_resolve": True,
    },
    AlertType.CANNOT_LEGALLY_MAKE_APPOINTMENT: {
        "severity": Severity.CRITICAL,
        "params": {"grace_minutes": 15},
        "escalate_after_minutes": 15,
        # Unacknowledged: an HOS check call (where is the driver, can the load be re-planned),
        # then the on-call.
        "escalation_steps": (
            {"kind": "ai_call", "after_minutes": 20, "acknowledge_on": "reached"},
            {"kind": "page_oncall", "after_minutes": 45},
        ),
        "auto_resolve": True,
    },
    AlertType.HOS_DRIVE_TIME_LOW: {
        "severity": Severity.WARNING,
        "params": {"threshold_minutes": 60},
        "auto_resolve": True,
    },
    AlertType.HOS_VIOLATION: {
        "severity": Severity.CRITICAL,
        "params": {"lookback_minutes": 24 * 60},
        "escalate_after_minutes": 30,
        "auto_resolve": False,
    },
    AlertType.SPEEDING: {
        "severity": Severity.WARNING,
        "params": {"speed_mph": 75, "min_duration_minutes": 2, "lookback_minutes": 60},
        "auto_resolve": False,
    },
    AlertType.HARSH_EVENT: {
        "severity": Severity.WARNING,
        "params": {"lookback_minutes": 60},
        "auto_resolve": False,
    },
    AlertType.STOPPED_TOO_LONG: {
        "severity": Severity.WARNING,
        "params": {"minutes": 45, "moving_mph": 3, "stop_radius_miles": 0.5},
        "auto_resolve": True,
    },
    AlertType.GPS_STALE: {
        "severity": Severity.WARNING,
        "params": {"minutes": 30},
        "auto_resolve": True,
    },
    AlertType.SEVERE_WEATHER: {
        "severity": Severity.WARNING,
        "params": {"severities": ["Extreme", "Severe"], "grid_degrees": 0.1, "max_lookups": 50},
        "auto_resolve": True,
    },
    AlertType.INTEGRATION_STALE: {
        "severity": Severity.WARNING,
        "params": {"minutes": 30},
        "auto_resolve": True,
    },
    # A truck held past free time (logic/trips/stop_visits.py): after an hour unacknowledged,
    # an AI call asks the driver what the hold-up is (the answer lands on the alert).
    AlertType.DETENTION: {
        "severity": Severity.WARNING,
        "params": {"step_minutes": 10},
        "escalation_steps": (
            {"kind": "ai_call", "after_minutes": 60, "acknowledge_on": "reached"},
        ),
        "auto_resolve": True,
    },
}


@dataclass(frozen=True)
class EffectiveRule:
    type: str
    rule_id: int | None = None
    enabled: bool = True
    severity: str = Severity.WARNING
    params: dict[str, Any] = field(default_factory=dict)
    terminal: str | None = None
    fleet_manager: str | None = None
    channel: str = ""
    cooldown_minutes: int = 30
    quiet_hours_start: str | None = None
    quiet_hours_end: str | None = None
    quiet_hours_timezone: str = "America/Chicago"
    min_duration_minutes: int = 0
    escalate_after_minutes: int | None = None
    escalation_channel: str = ""
    escalation_steps: tuple[dict[str, Any], ...] = ()
    ladder_from: datetime | None = None  # `ai_call` steps climb alerts first seen from then
    auto_resolve: bool = True

    def param(self, name: str) -> Any:
        return self.params.get(name, DEFAULTS.get(self.type, {}).get("params", {}).get(name))

    def describe(self) -> str:
        return f"rule #{self.rule_id}" if self.rule_id else f"default rule for {self.type}"


def default_rule(alert_type: str) -> EffectiveRule:
    settings = get_settings()
    spec = DEFAULTS.get(alert_type, {})
    return EffectiveRule(
        type=alert_type,
        severity=spec.get("severity", Severity.WARNING),
        params=dict(spec.get("params", {})),
        channel=settings.SLACK_ALERTS_CHANNEL,
        escalate_after_minutes=spec.get("escalate_after_minutes"),
        escalation_channel=settings.SLACK_ESCALATION_CHANNEL,
        escalation_steps=tuple(spec.get("escalation_steps", ())),
        auto_resolve=spec.get("auto_resolve", True),
    )


def effective(row: AlertRule, base: EffectiveRule) -> EffectiveRule:
    """A stored rule layered over `base` (defaults, or the unscoped rule for scoped ones)."""
    return replace(
        base,
        rule_id=row.id,
        enabled=row.enabled,
        severity=row.severity,
        params={**base.params, **(row.params or {})},
        terminal=row.terminal,
        fleet_manager=row.fleet_manager,
        channel=row.channel or base.channel,
        cooldown_minutes=row.cooldown_minutes,
        quiet_hours_start=row.quiet_hours_start,
        quiet_hours_end=row.quiet_hours_end,
        quiet_hours_timezone=row.quiet_hours_timezone,
        min_duration_minutes=row.min_duration_minutes,
        escalate_after_minutes=row.escalate_after_minutes,
        escalation_channel=row.escalation_channel or base.escalation_channel,
        escalation_steps=tuple(row.escalation_steps or ()),
        ladder_from=row.ladder_from,
    )


@dataclass
class RuleSet:
    base: dict[str, EffectiveRule]
    scoped: dict[str, list[EffectiveRule]]

    def for_type(self, alert_type: str) -> EffectiveRule:
        return self.base.get(alert_type) or default_rule(alert_type)

    def enabled_types(self) -> list[str]:
        return [t for t in DEFAULTS if self.for_type(t).enabled]

    def for_subject(
        self, alert_type: str, terminal: str | None, fleet_manager: str | None
    ) -> EffectiveRule:
        """Most specific enabled match: terminal+manager, then manager, then terminal, then base."""
        best: tuple[int, EffectiveRule] | None = None
        for rule in self.scoped.get(alert_type, []):
            if rule.terminal and rule.terminal != terminal:
                continue
            if rule.fleet_manager and rule.fleet_manager != fleet_manager:
                continue
            score = (2 if rule.fleet_manager else 0) + (1 if rule.terminal else 0)
            if best is None or score > best[0]:
                best = (score, rule)
        return best[1] if best else self.for_type(alert_type)


def load_rules(session: Session, rows: list[AlertRule] | None = None) -> RuleSet:
    """Every stored rule (enabled or not) resolved over the defaults, in one query."""
    rows = AlertRule.all_rules(session) if rows is None else rows
    base: dict[str, EffectiveRule] = {}
    for row in rows:
        if not row.terminal and not row.fleet_manager and row.type not in base:
            base[row.type] = effective(row, default_rule(row.type))
    scoped: dict[str, list[EffectiveRule]] = {}
    for row in rows:
        if (row.terminal or row.fleet_manager) and row.enabled:
            parent = base.get(row.type) or default_rule(row.type)
            scoped.setdefault(row.type, []).append(effective(row, parent))
    return RuleSet(base=base, scoped=scoped)
