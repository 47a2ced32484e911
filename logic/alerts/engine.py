"""One evaluation pass: refresh ETAs, run the enabled detectors, apply noise control.

`evaluate(session, …)` works in the caller's transaction (API dry-runs, tests, the bench);
`run_evaluation(…)` is the unit of work the scheduler, the cloud function and the ingest runner
use: evaluate in its own transaction, then drain the Slack outbox. On PostgreSQL a transaction
advisory lock makes concurrent passes (several instances, a cron overlapping an ingest) queue
up rather than race; the partial unique index on active fingerprints is the backstop.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from db.database import session_scope
from db.retry import db_retry
from helpers.time_utils import utc_now
from logic.alerts import (
    legal_detector,  # noqa: F401 (registers its detector)
    outbox,
)
from logic.alerts.candidate import Candidate
from logic.alerts.detectors import DETECTORS, DetectorContext, IncompleteDetection
from logic.alerts.detention import resolve_departed
from logic.alerts.filters import ChannelLimit, FilterReport, apply_filters
from logic.alerts.rules import RuleSet, load_rules
from logic.trips.eta import compute_etas
from logic.trips.legal_eta import compute_legal_etas
from logic.trips.route_cache import RouteBook, RouteRequest, refresh_routes
from logic.trips.stop_visits import track_stop_visits
from models.alert import AlertType

log = logging.getLogger(__name__)

# Detectors that read the pass's newest-position snapshot (logic/alerts/positions.py).
_POSITION_TYPES = {
    AlertType.SPEEDING,
    AlertType.STOPPED_TOO_LONG,
    AlertType.GPS_STALE,
    AlertType.SEVERE_WEATHER,
}

# Types that need the pass's stop visits first (arrivals decide the next stop; detention).
_VISIT_TYPES = {
    AlertType.LATE_FOR_APPOINTMENT,
    AlertType.CANNOT_LEGALLY_MAKE_APPOINTMENT,
    AlertType.DETENTION,
}

# Detectors that judge the ETAs this pass computes.
_ETA_TYPES = {AlertType.LATE_FOR_APPOINTMENT, AlertType.CANNOT_LEGALLY_MAKE_APPOINTMENT}

# An arbitrary constant shared by every instance: "the alert evaluation pass".
_ADVISORY_LOCK_KEY = 7_040_417


@dataclass
class EvaluationResult:
    now: datetime
    candidates: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    incomplete: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    etas_computed: int = 0
    etas_written: int = 0
    legal_etas_written: int = 0
    filters: FilterReport = field(default_factory=FilterReport)
    timings_ms: dict[str, float] = field(default_factory=dict)
    delivery: dict[str, Any] | None = None
    stop_visits: dict[str, Any] | None = None
    routing: dict[str, int] = field(default_factory=dict)
    routes_wanted: list[RouteRequest] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "candidates": self.candidates,
            "by_type": self.by_type,
            "incomplete": self.incomplete,
            "failed": self.failed,
            "etas_computed": self.etas_computed,
            "etas_written": self.etas_written,
            "legal_etas_written": self.legal_etas_written,
            "filters": self.filters.as_dict(),
            "timings_ms": self.timings_ms,
            "delivery": self.delivery,
            "stop_visits": self.stop_visits,
            "routing": self.routing,
        }


def detect(
    session: Session,
    rules: RuleSet,
    now: datetime,
    ctx: DetectorContext,
    result: EvaluationResult,
    types: list[str] | None = None,
) -> tuple[list[Candidate], list[str], frozenset[str]]:
    """Run detectors; returns (candidates, types that saw the whole fleet, fingerprints that
    detectors which saw only part of it did examine)."""
    candidates: list[Candidate] = []
    complete: list[str] = []
    covered: set[str] = set()
    types = types or rules.enabled_types()
    if _POSITION_TYPES.intersection(types):
        # Before the savepoints: a detector rolled back must not take the snapshot with it.
        started = time.perf_counter()
        ctx.positions(session)
        result.timings_ms.setdefault("positions", round((time.perf_counter() - started) * 1000, 1))
    for alert_type in types:
        detector = DETECTORS[alert_type]
        started = time.perf_counter()
        try:
            # A savepoint: one broken detector must not poison the pass's transaction.
            with session.begin_nested():
                found = detector(session, rules.for_type(alert_type), now, ctx)
            complete.append(alert_type)
        except IncompleteDetection as exc:
            found = exc.candidates
            covered.update(exc.covered)
            result.incomplete[alert_type] = str(exc)
        except Exception as exc:  # a detector bug must not stop the other detectors
            log.exception("detector %s failed", alert_type)
            found = []
            result.failed[alert_type] = f"{type(exc).__name__}: {exc}"
        result.timings_ms[alert_type] = round((time.perf_counter() - started) * 1000, 1)
        result.by_type[alert_type] = len(found)
        candidates.extend(found)
    result.candidates = len(candidates)
    return candidates, complete, frozenset(covered)


def evaluate(
    session: Session,
    *,
    now: datetime | None = None,
    weather: Any | None = None,
    limit: ChannelLimit | None = None,
    types: list[str] | None = None,
) -> EvaluationResult:
    """Refresh ETAs, detect, filter; flushes alert and outbox rows into the caller's transaction.

    Road miles come from cached routes only; the re-routes the pass wants are left in
    `result.routes_wanted` for `run_evaluation` to fetch after the commit."""
    now = now or utc_now()
    result = EvaluationResult(now=now)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})
        # The pass is thousands of index probes whose row counts the planner over-guesses;
        # JIT compiling them (~10 ms a statement) never pays back.
        session.execute(text("SET LOCAL jit = off"))
    rules = load_rules(session)
    ctx = DetectorContext(weather=weather)
    at_stop: set[int] = set()
    if types is None or _VISIT_TYPES.intersection(types):
        started = time.perf_counter()
        positions = ctx.positions(session)
        result.timings_ms["positions"] = round((time.perf_counter() - started) * 1000, 1)
        started = time.perf_counter()
        visits = track_stop_visits(session, now=now, positions=positions)
        resolve_departed(session, visits.departed_visits, now)
        at_stop = visits.at_stop
        result.stop_visits = visits.as_dict()
        result.timings_ms["stop_visits"] = round((time.perf_counter() - started) * 1000, 1)
    if types is None or _ETA_TYPES.intersection(types):
        positions = ctx.positions(session)
        started = time.perf_counter()
        book = RouteBook.load(session, now)
        etas = compute_etas(session, now=now, positions=positions, routes=book)
        # Trucks at a stop are not moving: no fresh PC*MILER routing for them.
        result.routes_wanted = [w for w in book.wanted if w.trip_id not in at_stop]
        result.routing = {"advanced": book.advanced, "wanted": len(result.routes_wanted)}
        result.etas_computed, result.etas_written = etas.computed, etas.written
        result.timings_ms["eta"] = round((time.perf_counter() - started) * 1000, 1)
        started = time.perf_counter()
        legal = compute_legal_etas(session, etas, now=now)
        result.legal_etas_written = legal.written
        result.timings_ms["legal_eta"] = round((time.perf_counter() - started) * 1000, 1)
    candidates, complete, covered = detect(session, rules, now, ctx, result, types)
    started = time.perf_counter()
    result.filters = _filter(session, candidates, rules, complete, covered, now, limit, result)
    result.timings_ms["filters"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def _filter(
    session: Session,
    candidates: list[Candidate],
    rules: RuleSet,
    complete: list[str],
    covered: frozenset[str],
    now: datetime,
    limit: ChannelLimit | None,
    result: EvaluationResult,
) -> FilterReport:
    """Noise control for the whole pass in one savepoint; if that fails, once per alert type,
    so one type's failure (recorded as `failed["filters:<type>"]`) keeps the others' alerts
    and the pass's ETAs."""
    try:
        with session.begin_nested():
            return apply_filters(
                session,
                candidates,
                rules=rules,
                evaluated_types=complete,
                covered=covered,
                now=now,
                limit=limit,
            )
    except Exception:
        log.exception("alert filters failed for the whole pass; retrying type by type")
    report = FilterReport()
    by_type: dict[str, list[Candidate]] = defaultdict(list)
    for cand in candidates:
        by_type[cand.type].append(cand)
    for alert_type in sorted({*complete, *by_type}):
        evaluated = [alert_type] if alert_type in complete else []
        try:
            with session.begin_nested():
                report.add(
                    apply_filters(
                        session,
                        by_type[alert_type],
                        rules=rules,
                        evaluated_types=evaluated,
                        covered=covered,
                        now=now,
                        limit=limit,
                    )
                )
        except Exception as exc:
            log.exception("alert filters failed for %s", alert_type)
            result.failed[f"filters:{alert_type}"] = f"{type(exc).__name__}: {exc}"
    return report


@db_retry(max_retries=3)
def _evaluate_unit(now: datetime, weather: Any) -> EvaluationResult:
    with session_scope() as session:
        return evaluate(session, now=now, weather=weather)


def run_evaluation(
    *,
    now: datetime | None = None,
    slack: Any | None = None,
    weather: Any | None = None,
    pcmiler: Any | None = None,
) -> EvaluationResult:
    """Evaluate in its own transaction (committed), then fetch the routes it wanted from
    PC*MILER (outside any transaction) and deliver what it queued to Slack."""
    now = now or utc_now()
    result = _evaluate_unit(now, weather)
    try:
        fetched = refresh_routes(pcmiler, result.routes_wanted, now=now)
        result.routing["requested"] = len(fetched)
    except Exception:  # routing is an optimisation: a failure must not cost the Slack drain
        log.exception("route refresh failed")
    if slack is not None:
        drained = outbox.drain(slack, now=now)
        result.delivery = {
            "claimed": drained.claimed,
            "sent": drained.sent,
            "retried": drained.retried,
            "failed": drained.failed,
            "cancelled": drained.cancelled,
            "deferred": drained.deferred,
        }
    return result


def evaluate_after_ingest(source: str, entity: str) -> EvaluationResult | None:
    """Hook for the ingest runner: re-evaluate after a successful run, never failing the run.

    Builds the vendor clients from settings when they are configured; an unconfigured Slack
    just leaves deliveries in the outbox for the next drain.
    """
    try:
        slack, weather, pcmiler = build_clients()
        return run_evaluation(slack=slack, weather=weather, pcmiler=pcmiler)
    except Exception:
        log.exception("alert evaluation after %s/%s ingest failed", source, entity)
        return None


def build_clients(settings: Any | None = None) -> tuple[Any | None, Any | None, Any | None]:
    """(slack, weather, pcmiler) from settings; None for each vendor that is not configured."""
    from config import get_settings
    from helpers.errors import UpstreamNotConfigured
    from utils.pcmiler_client import build_pcmiler_client
    from utils.slack_client import build_slack_client
    from utils.weather_api import build_weather_client

    settings = settings or get_settings()
    clients: list[Any | None] = []
    for build in (build_slack_client, build_weather_client, build_pcmiler_client):
        try:
            clients.append(build(settings))
        except UpstreamNotConfigured:
            clients.append(None)
    return clients[0], clients[1], clients[2]
