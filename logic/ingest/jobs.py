"""The ingest entry points every trigger shares (ingest app, CLI, scheduler, cloud function).

Each source lists its entities in the order `all` runs them: reference data first, so the feeds
that follow can link to the trucks and drivers they mention.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from config import Settings, get_settings
from helpers.errors import NotFound
from logic.ingest import ditat, samsara
from logic.ingest.runner import IngestAlreadyRunning, RunHandle, execute, start_run
from models.ingest import IngestRunPublic, IngestStatus

log = logging.getLogger(__name__)

EntityIngest = Callable[[RunHandle, Any], None]


@dataclass(frozen=True)
class Source:
    name: str
    entities: dict[str, EntityIngest]
    build_client: Callable[[Settings], Any]


SOURCES: dict[str, Source] = {
    "samsara": Source("samsara", samsara.ENTITIES, samsara.build_client),
    "ditat": Source("ditat", ditat.ENTITIES, ditat.build_client),
}


def entities_of(source: str) -> list[str]:
    return list(_source(source).entities)


def _source(source: str) -> Source:
    try:
        return SOURCES[source]
    except KeyError:
        raise NotFound(f"unknown ingest source {source!r}; one of {', '.join(SOURCES)}") from None


def _entity(source: str, entity: str) -> EntityIngest:
    known = _source(source).entities
    try:
        return known[entity]
    except KeyError:
        raise NotFound(
            f"unknown {source} entity {entity!r}; one of {', '.join([*known, 'all'])}"
        ) from None


@dataclass
class StartedIngest:
    """A run that holds its lock and has its row; `run()` does the work and releases both."""

    handle: RunHandle
    body: EntityIngest
    client: Any
    done: bool = field(default=False)

    @property
    def run_id(self) -> int:
        return self.handle.run_id

    def run(self) -> IngestRunPublic:
        try:
            return execute(self.handle, lambda handle: self.body(handle, self.client))
        finally:
            self.done = True
            _close(self.client)


def _close(client: Any) -> None:
    http = getattr(client, "http", None)
    if http is not None:
        http.close()


def start_ingest(
    source: str,
    entity: str,
    *,
    trigger: str = "api",
    triggered_by: str | None = None,
    settings: Settings | None = None,
    on_page: Callable[[RunHandle], None] | None = None,
) -> StartedIngest:
    """Validate, build the vendor client, then lock and record the run (409 if one is running).

    The client is built first so a missing credential is a clear 503 with no run recorded.
    """
    body = _entity(source, entity)
    client = _source(source).build_client(settings or get_settings())
    try:
        handle = start_run(
            source, entity, trigger=trigger, triggered_by=triggered_by, on_page=on_page
        )
    except BaseException:
        _close(client)
        raise
    return StartedIngest(handle, body, client)


def run_ingest(source: str, entity: str, **kwargs: Any) -> IngestRunPublic:
    """Run one entity to the end and return its summary (failed runs included, never raised)."""
    return start_ingest(source, entity, **kwargs).run()


class IngestAllResult(BaseModel):
    runs: list[IngestRunPublic]
    conflicts: list[str]


def run_all(source: str, **kwargs: Any) -> IngestAllResult:
    """Every entity of a source in order; one already running elsewhere is reported, not fatal."""
    runs: list[IngestRunPublic] = []
    conflicts: list[str] = []
    for entity in entities_of(source):
        try:
            runs.append(run_ingest(source, entity, **kwargs))
        except IngestAlreadyRunning as exc:
            conflicts.append(exc.detail)
    return IngestAllResult(runs=runs, conflicts=conflicts)


def changed_data(summary: IngestRunPublic) -> bool:
    """A succeeded run that inserted or updated rows: worth a fresh alert evaluation."""
    return summary.status == IngestStatus.SUCCEEDED and bool(summary.inserted or summary.updated)


def evaluate_alerts_after(*summaries: IngestRunPublic) -> bool:
    """Run one alert evaluation pass, then refresh today's and yesterday's driver reports, if
    any of these runs changed data; never raises.

    Several triggers finishing together queue on the evaluation's own lock, so this is safe to
    call from every ingest instance.
    """
    changed = [s for s in summaries if changed_data(s)]
    if not changed:
        return False
    from logic.alerts.engine import evaluate_after_ingest
    from logic.reports.jobs import refresh_after_ingest

    evaluate_after_ingest(changed[0].source, ",".join(s.entity for s in changed))
    refresh_after_ingest()
    return True


def run_then_evaluate(started: StartedIngest) -> IngestRunPublic:
    """A background run followed, when it changed data, by an alert evaluation pass."""
    summary = started.run()
    evaluate_alerts_after(summary)
    return summary
