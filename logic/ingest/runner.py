"""The life of one ingest run: serialize per source+entity, commit page by page, record the run.

Serialization never lives in process memory (several ingest instances may run):
- PostgreSQL: a session-level `pg_try_advisory_lock` held on a dedicated autocommit connection for
  the whole run. It dies with the process, so a killed run never blocks the next one, and the next
  holder marks the dead run's leftover `running` row as abandoned. It also dies with the
  connection (a database restart): the run checks before every page that it still holds it, and
  stops if not.
- Both databases: a partial unique index allows one `running` `IngestRun` row per source+entity.
  On SQLite that index is the lock. A `running` row is taken over with a conditional UPDATE when
  its owner (host + pid, recorded at start) is a process of this host that no longer exists, or
  when its heartbeat (refreshed on every committed page) is older than `INGEST_STALE_RUN_SECONDS`.
- A run writes its row only while it is still `running`: a page or finish of a run that was
  taken over changes nothing, so an abandoned run never rewrites its status.

Each page is one transaction that writes the page's rows, the cursor and the run's counters
together, so the cursor only ever advances with committed data: a crash loses at most the page in
flight, and the re-run resumes from the last committed cursor without duplicates.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col

from config import get_settings
from db.database import get_engine, session_scope
from db.retry import db_retry
from db.upsert import UpsertResult, bulk_upsert
from helpers.cloud_logger import redact
from helpers.errors import AppError, Conflict
from helpers.metrics import count_ingest_run
from helpers.shutdown import shutting_down
from helpers.time_utils import utc_now
from models.ingest import IngestCursor, IngestRun, IngestRunPublic, IngestStatus
from utils.http import VendorError

log = logging.getLogger(__name__)

UNMATCHED_SAMPLE = 50
_KEEP = object()


class IngestAlreadyRunning(Conflict):
    code = "ingest_running"


class IngestFailed(AppError):
    """A run ended in failure; the detail is the recorded error, `run` the summary."""

    status_code = 502
    code = "ingest_failed"


class RunLostOwnership(Exception):
    """The run no longer owns its source+entity (lock gone with its connection, or taken over):
    it stops without writing, and another run may be under way."""


class IngestInterrupted(Exception):
    """The process is shutting down: the run stops before writing another page and records it;
    the next run resumes from the last committed cursor."""


class BadVendorData(Exception):
    """A vendor page that cannot be stored as a whole: the page and the run fail, nothing is
    written from it, and the message becomes the run's recorded error."""


@dataclass
class PageWrite:
    """What writing one page did; returned by the entity's page writer."""

    fetched: int = 0
    result: UpsertResult = field(default_factory=UpsertResult)
    skipped: Counter[str] = field(default_factory=Counter)
    bad_fields: Counter[str] = field(default_factory=Counter)
    unmatched: dict[str, set[str]] = field(default_factory=dict)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] += count

    def bad_field(self, reason: str) -> None:
        """A record kept without one of its optional fields, which was invalid."""
        self.bad_fields[reason] += 1

    def unmatched_ref(self, kind: str, vendor_id: str | None) -> None:
        if vendor_id:
            self.unmatched.setdefault(kind, set()).add(str(vendor_id))


def lock_key(source: str, entity: str) -> int:
    """A stable signed 64-bit advisory-lock key for one source+entity."""
    digest = hashlib.blake2b(f"fleet-hub:ingest:{source}:{entity}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


class _PgAdvisoryLock:
    def __init__(self, engine: Engine, key: int) -> None:
        self._engine = engine
        self._key = key
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        # Autocommit: holding the lock must not hold a transaction (and its snapshot) open.
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar()
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def held(self) -> bool:
        """Whether our lock connection is alive and still holds the lock (one round trip)."""
        if self._conn is None:
            return False
        unsigned = self._key & 0xFFFF_FFFF_FFFF_FFFF
        try:
            return bool(
                self._conn.execute(
                    text(
                        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                        "AND pid = pg_backend_pid() AND granted AND objsubid = 1 "
                        "AND classid::bigint = :hi AND objid::bigint = :lo)"
                    ),
                    {"hi": unsigned >> 32, "lo": unsigned & 0xFFFF_FFFF},
                ).scalar()
            )
        except SQLAlchemyError:
            return False

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            conn.close()
        except SQLAlchemyError:
            # A pooled connection must never keep a session lock: drop it so the lock dies too.
            log.warning("could not unlock ingest lock %s; discarding the connection", self._key)
            conn.invalidate()
            conn.close()


_active_lock = threading.Lock()
_active: weakref.WeakSet[RunHandle] = weakref.WeakSet()


def interrupt_active_runs(reason: str) -> int:
    """Finish every run of this process that is still going (shutdown); returns how many.

    Their rows are recorded as failed with `reason` and their locks released, so another
    instance can start the same source+entity at once; a thread still inside such a run stops at
    its next page.
    """
    with _active_lock:
        handles = list(_active)
    for handle in handles:
        handle.finish(f"interrupted: {reason}")
    return len(handles)


class RunHandle:
    """A started run that holds its source+entity lock until `finish()`.

    `stop_on_shutdown` (background runs) makes the run end at its next page once the process is
    asked to shut down, instead of running on past the grace period.
    """

    def __init__(
        self,
        run_id: int,
        source: str,
        entity: str,
        cursor_before: str | None,
        lock: _PgAdvisoryLock | None,
        on_page: Callable[[RunHandle], None] | None = None,
    ) -> None:
        self.run_id = run_id
        self.source = source
        self.entity = entity
        self.cursor_before = cursor_before
        self.cursor = cursor_before
        self.on_page = on_page
        self._lock = lock
        self._started = time.monotonic()
        self.pages = 0
        self.fetched = 0
        self.totals = UpsertResult()
        self.skipped: Counter[str] = Counter()
        self.bad_fields: Counter[str] = Counter()
        self.unmatched: dict[str, set[str]] = {}
        self.finished = False
        self.stop_on_shutdown = False
        self._finish_lock = threading.Lock()
        with _active_lock:
            _active.add(self)

    def write_page(
        self, write: Callable[[Session], PageWrite], *, cursor_after: Any = _KEEP
    ) -> PageWrite:
        """Run `write` and advance the cursor in one transaction, then count the page.

        `cursor_after` is the cursor to persist with this page (omit it to keep the current one).
        Safe to retry on a dropped connection: the page's upserts are idempotent.
        """
        if self.finished or (self.stop_on_shutdown and shutting_down()):
            raise IngestInterrupted("the process is shutting down; the next run resumes here")
        new_cursor = self.cursor if cursor_after is _KEEP else cursor_after
        outcome = self._commit_page(write, new_cursor)
        self.pages += 1
        self.fetched += outcome.fetched
        self.totals += outcome.result
        self.skipped.update(outcome.skipped)
        self.bad_fields.update(outcome.bad_fields)
        for kind, ids in outcome.unmatched.items():
            self.unmatched.setdefault(kind, set()).update(ids)
        self.cursor = new_cursor
        if self.on_page is not None:
            self.on_page(self)
        return outcome

    @db_retry(max_retries=3)
    def _commit_page(self, write: Callable[[Session], PageWrite], cursor: str | None) -> PageWrite:
        if self._lock is not None and not self._lock.held():
            raise RunLostOwnership(
                f"run {self.run_id} lost its lock (database connection gone); stopped"
            )
        with session_scope() as session:
            now = utc_now()
            # First, so a run that was taken over writes nothing (and holds the row meanwhile).
            claimed = session.execute(
                update(IngestRun)
                .where(col(IngestRun.id) == self.run_id, _still_running())
                .values(heartbeat_at=now)
            )
            if claimed.rowcount != 1:
                raise RunLostOwnership(f"run {self.run_id} was taken over by another run; stopped")
            outcome = write(session)
            bulk_upsert(
                session,
                IngestCursor,
                [
                    {
                        "source": self.source,
                        "entity": self.entity,
                        "cursor": cursor,
                        "last_run_id": self.run_id,
                        "updated_at": now,
                    }
                ],
                conflict_columns=["source", "entity"],
            )
            skipped = self.skipped + outcome.skipped
            unmatched = {k: set(v) for k, v in self.unmatched.items()}
            for kind, ids in outcome.unmatched.items():
                unmatched.setdefault(kind, set()).update(ids)
            totals = UpsertResult(self.totals.inserted, self.totals.updated, self.totals.unchanged)
            totals += outcome.result
            session.execute(
                update(IngestRun)
                .where(col(IngestRun.id) == self.run_id, _still_running())
                .values(
                    pages=self.pages + 1,
                    fetched=self.fetched + outcome.fetched,
                    inserted=totals.inserted,
                    updated=totals.updated,
                    unchanged=totals.unchanged,
                    skipped=sum(skipped.values()),
                    skip_reasons=dict(skipped),
                    bad_fields=dict(self.bad_fields + outcome.bad_fields),
                    unmatched=_unmatched_report(unmatched),
                    cursor_after=cursor,
                    heartbeat_at=now,
                )
            )
        return outcome

    def finish(self, error: str | None = None) -> IngestRunPublic:
        """Record the outcome and release the lock; the run row is final after this (a second
        call, e.g. the body ending after a shutdown already finished the run, changes nothing)."""
        with self._finish_lock:
            if not self.finished:
                try:
                    self._record_finish(error)
                    count_ingest_run(
                        self.source,
                        self.entity,
                        IngestStatus.FAILED.value if error else IngestStatus.SUCCEEDED.value,
                        {
                            "fetched": self.fetched,
                            "inserted": self.totals.inserted,
                            "updated": self.totals.updated,
                        },
                    )
                finally:
                    self.finished = True
                    with _active_lock:
                        _active.discard(self)
                    if self._lock is not None:
                        self._lock.release()
        return get_run(self.run_id)

    @db_retry(max_retries=3)
    def _record_finish(self, error: str | None) -> None:
        with session_scope() as session:
            finished = session.execute(
                update(IngestRun)
                .where(col(IngestRun.id) == self.run_id, _still_running())
                .values(
                    status=IngestStatus.FAILED.value if error else IngestStatus.SUCCEEDED.value,
                    error=error[:4000] if error else None,
                    cursor_after=self.cursor,
                    finished_at=utc_now(),
                    duration_ms=int((time.monotonic() - self._started) * 1000),
                )
            )
            if finished.rowcount != 1:
                log.warning("ingest run %s was taken over; outcome not recorded", self.run_id)


def _still_running() -> Any:
    return col(IngestRun.status) == IngestStatus.RUNNING.value


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_is_gone(owner: str | None) -> bool:
    """True only when `owner` ran on this host and that process no longer exists."""
    host, _, pid = (owner or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or os.name != "posix":
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    try:  # a killed process its parent has not reaped yet is a zombie: gone all the same
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return False


def _unmatched_report(unmatched: dict[str, set[str]]) -> dict[str, Any]:
    return {
        kind: {"count": len(ids), "sample": sorted(ids)[:UNMATCHED_SAMPLE]}
        for kind, ids in sorted(unmatched.items())
        if ids
    }


def start_run(
    source: str,
    entity: str,
    *,
    trigger: str = "api",
    triggered_by: str | None = None,
    on_page: Callable[[RunHandle], None] | None = None,
) -> RunHandle:
    """Take the source+entity lock and record a `running` run, or raise `IngestAlreadyRunning`."""
    engine = get_engine()
    lock: _PgAdvisoryLock | None = None
    if engine.dialect.name == "postgresql":
        lock = _PgAdvisoryLock(engine, lock_key(source, entity))
        if not lock.try_acquire():
            raise _already_running(source, entity)
    try:
        run_id, cursor = _insert_run(
            source, entity, trigger, triggered_by, we_hold_lock=lock is not None
        )
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return RunHandle(run_id, source, entity, cursor, lock, on_page)


@contextmanager
def exclusive_with(source: str, entity: str) -> Iterator[None]:
    """Hold off runs of `source`+`entity` while other work on their data (pruning) happens.

    Raises `IngestAlreadyRunning` if a run is in progress. On PostgreSQL the run's advisory lock
    is held for the duration, so no run can start meanwhile (a trigger gets the usual 409).
    """
    engine = get_engine()
    lock: _PgAdvisoryLock | None = None
    if engine.dialect.name == "postgresql":
        lock = _PgAdvisoryLock(engine, lock_key(source, entity))
        if not lock.try_acquire():
            raise _already_running(source, entity)
    try:
        with session_scope(immediate=False) as session:
            running = IngestRun.running_for(session, source, entity)
            if lock is None and running is not None and _seems_alive(running):
                raise _already_running(source, entity, running.id)
        yield
    finally:
        if lock is not None:
            lock.release()


def _insert_run(
    source: str, entity: str, trigger: str, triggered_by: str | None, *, we_hold_lock: bool
) -> tuple[int, str | None]:
    try:
        with session_scope() as session:
            _abandon_dead_run(session, source, entity, we_hold_lock=we_hold_lock)
            cursor_row = IngestCursor.get_for(session, source, entity)
            cursor = cursor_row.cursor if cursor_row else None
            run = IngestRun(
                source=source,
                entity=entity,
                trigger=trigger,
                triggered_by=triggered_by,
                cursor_before=cursor,
                cursor_after=cursor,
                owner=_owner(),
            )
            session.add(run)
            session.flush()
            assert run.id is not None
            return run.id, cursor
    except IntegrityError:
        # Another process inserted its running row between our check and our insert.
        raise _already_running(source, entity) from None


def _abandon_dead_run(session: Session, source: str, entity: str, *, we_hold_lock: bool) -> None:
    """Mark a leftover `running` row failed when its process is provably or probably gone."""
    running = IngestRun.running_for(session, source, entity)
    if running is None:
        return
    now = utc_now()
    stale_before = now - timedelta(seconds=get_settings().INGEST_STALE_RUN_SECONDS)
    if we_hold_lock:
        reason = "abandoned: its process ended without finishing (lock released)"
    elif _owner_is_gone(running.owner):
        reason = f"abandoned: its process {running.owner} no longer exists"
    elif running.heartbeat_at < stale_before:
        reason = f"abandoned: no heartbeat since {running.heartbeat_at.isoformat()}"
    else:
        raise _already_running(source, entity, running.id)
    # Conditional, so two takers racing for the same stale row cannot both win it.
    session.execute(
        update(IngestRun)
        .where(col(IngestRun.id) == running.id, col(IngestRun.status) == IngestStatus.RUNNING.value)
        .values(status=IngestStatus.FAILED.value, error=reason, finished_at=now)
    )
    session.flush()
    session.expire(running)
    log.warning("ingest run %s (%s %s) %s", running.id, source, entity, reason)


def _seems_alive(running: IngestRun) -> bool:
    """Without a lock to ask (SQLite): the owner process exists, or it beat recently."""
    if _owner_is_gone(running.owner):
        return False
    stale_before = utc_now() - timedelta(seconds=get_settings().INGEST_STALE_RUN_SECONDS)
    return running.heartbeat_at >= stale_before


def _already_running(source: str, entity: str, run_id: int | None = None) -> IngestAlreadyRunning:
    if run_id is None:
        with session_scope() as session:
            running = IngestRun.running_for(session, source, entity)
            run_id = running.id if running else None
    where = f" (run {run_id})" if run_id is not None else ""
    return IngestAlreadyRunning(
        f"a {source} {entity} ingest is already running{where}", running_run_id=run_id
    )


def describe_error(exc: BaseException) -> str:
    """The run's recorded error: what failed, in one redacted line, never a stack trace."""
    if isinstance(exc, IngestInterrupted):
        message = f"interrupted: {exc}"
    elif isinstance(exc, VendorError | BadVendorData | RunLostOwnership):
        message = str(exc)
    elif isinstance(exc, SQLAlchemyError):
        message = f"database error: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    elif isinstance(exc, AppError):
        message = exc.detail
    else:
        message = f"{type(exc).__name__}: {exc}"
    return redact(message)[:4000]


def execute(handle: RunHandle, body: Callable[[RunHandle], None]) -> IngestRunPublic:
    """Run `body` under the handle, record success or the error, always release the lock."""
    try:
        body(handle)
    except Exception as exc:
        if not isinstance(exc, VendorError | BadVendorData | RunLostOwnership | IngestInterrupted):
            log.error("ingest run %s failed unexpectedly", handle.run_id, exc_info=exc)
        return handle.finish(describe_error(exc))
    except BaseException as exc:
        handle.finish(f"interrupted: {type(exc).__name__}")
        raise
    return handle.finish()


def get_run(run_id: int) -> IngestRunPublic:
    with session_scope() as session:
        run = session.get(IngestRun, run_id)
        assert run is not None
        return IngestRunPublic.model_validate(run)
