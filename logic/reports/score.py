"""The driver safety score: 100 minus weighted deductions, clamped to 0-100.

score = 100 - (REPORT_SCORE_HOS_VIOLATION x HOS violations
              + REPORT_SCORE_EVENT_<SEVERITY> x safety events of that severity
              + REPORT_SCORE_SPEEDING_MINUTE x speeding minutes
              + REPORT_SCORE_LATE_STOP x late stops)

A day with nothing against the driver scores 100. `components` lists each deduction so a reader
(and every API response, via `formula`) can see how the number was made. A day without a mileage
basis (no miles from the truck driven, no delivered trip) is not scored: the score is None and
`withheld_reason` says why, since 13 drive hours with no miles is missing data, not a clean day.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config import Settings

SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class Score:
    score: float | None
    components: dict[str, float]
    withheld_reason: str | None = None


def withheld_reason(metrics: dict[str, Any]) -> str | None:
    """Why the day cannot be scored, or None when it has a mileage basis."""
    if float(metrics.get("miles") or 0.0) > 0:
        return None
    hours = float(metrics.get("drive_hours") or 0.0)
    if hours > 0:
        return (
            f"no mileage basis: {hours:g} drive hours but no miles from the truck driven "
            "(no GPS positions or odometer) and no delivered trip"
        )
    return "no mileage basis: no miles driven"


def weights(settings: Settings) -> dict[str, float]:
    return {
        "hos_violation": settings.REPORT_SCORE_HOS_VIOLATION,
        "event_low": settings.REPORT_SCORE_EVENT_LOW,
        "event_medium": settings.REPORT_SCORE_EVENT_MEDIUM,
        "event_high": settings.REPORT_SCORE_EVENT_HIGH,
        "event_critical": settings.REPORT_SCORE_EVENT_CRITICAL,
        "speeding_minute": settings.REPORT_SCORE_SPEEDING_MINUTE,
        "late_stop": settings.REPORT_SCORE_LATE_STOP,
    }


def safety_score(metrics: dict[str, Any], settings: Settings) -> Score:
    """Score one driver-day from its metrics (`hos_violations`, events by severity, …)."""
    w = weights(settings)
    by_severity = metrics.get("safety_events_by_severity") or {}
    late_stops = metrics.get("stops_with_appointment", 0) - metrics.get("stops_on_time", 0)
    components = {
        "hos_violations": w["hos_violation"] * metrics.get("hos_violations", 0),
        **{f"events_{s}": w[f"event_{s}"] * int(by_severity.get(s, 0)) for s in SEVERITIES},
        "speeding_minutes": w["speeding_minute"] * float(metrics.get("speeding_minutes", 0.0)),
        "late_stops": w["late_stop"] * max(late_stops, 0),
    }
    components = {k: round(v, 2) for k, v in components.items() if v}
    reason = withheld_reason(metrics)
    if reason is not None:
        return Score(score=None, components=components, withheld_reason=reason)
    score = min(max(100.0 - sum(components.values()), 0.0), 100.0)
    return Score(score=round(score, 1), components=components)


def formula(settings: Settings) -> str:
    """The formula with the configured weights, as the API and README state it."""
    w = weights(settings)
    return (
        f"score = clamp(100 - ({w['hos_violation']:g} x HOS violations"
        f" + {w['event_low']:g}/{w['event_medium']:g}/{w['event_high']:g}/"
        f"{w['event_critical']:g} x low/medium/high/critical safety events"
        f" + {w['speeding_minute']:g} x speeding minutes"
        f" + {w['late_stop']:g} x late stops), 0, 100), for days with miles driven; "
        "trend = score - the driver's average over the previous 7 (30) days"
    )
