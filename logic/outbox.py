"""The outbox kit: one mechanism for every outbound delivery; each outbox adds only its sending.

A row is claimed (`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, then an UPDATE that re-checks
due-ness, which is what makes the claim atomic on SQLite) under a fresh token with a lease. Each
claimed row then goes through three steps, and only the middle one talks to a vendor:

1. `prepare(session, row)`, in a short transaction: read what the send needs (or decide at once:
   nothing to send, wait for something else);
2. `send(client, job)`, outside any transaction and with no pooled connection held;
3. `record(session, row, result)`, in a short transaction with the row's new state.

A send returns (or raises, for vendor errors) one of three typed results: `Sent`, `RetryAfter`
(exponential backoff with jitter, or the vendor's `Retry-After`, until the outbox's maximum of
attempts) or `PermanentFailure`. A worker that dies mid-send leaves a lease that expires; the row
is taken again *in doubt* (its earlier send may have reached the vendor), and the send checks at
the vendor before it repeats anything. A worker shut down by SIGTERM stops between rows and hands
its unsent claims back at once (`release_claims`). `drain(..., ids=…)` sends just the rows a unit
of work queued, right after its commit.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, or_, select, update
from sqlmodel import Session

from config import get_settings
from db.database import session_scope
from helpers.metrics import OUTBOX_DELIVERIES, OUTBOX_SEND_SECONDS
from helpers.shutdown import shutting_down
from helpers.time_utils import utc_now
from utils.http import VendorError, VendorTransientError

log = logging.getLogger(__name__)

Job = TypeVar("Job")

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


@dataclass(frozen=True)
class Sent:
    """The vendor accepted the delivery; `note` is what `record` keeps (a message ts, a file id)."""

    note: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RetryAfter:
    """Not now. `seconds=None` means the outbox's backoff; `attempt=False` is a wait that is no
    failure (a reply waiting for its parent) and costs no attempt. `throttled` (a vendor's 429)
    holds back the rest of the row's group in this drain too."""

    reason: str
    seconds: float | None = None
    attempt: bool = True
    throttled: bool = False
    note: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PermanentFailure:
    """Never going to work (rejected, or nothing left to send); the row ends in `status`."""

    reason: str
    status: str = FAILED
    note: dict[str, Any] = field(default_factory=dict)


Result = Sent | RetryAfter | PermanentFailure


@dataclass(frozen=True)
class Attempt:
    """What `prepare` knows about this attempt: whether an earlier claim may already have reached
    the vendor (`in_doubt`), and the drain's clock."""

    in_doubt: bool
    now: datetime


@dataclass(frozen=True)
class Claimed:
    """A claimed row's id, and whether an earlier claim may already have reached the vendor."""

    id: int
    in_doubt: bool


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    backoff_seconds: float
    max_backoff_seconds: float

    def wait(self, attempts: int, rng: random.Random) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random, so workers that
        failed together do not all come back in the same second."""
        capped = min(self.backoff_seconds * (2 ** max(attempts - 1, 0)), self.max_backoff_seconds)
        return capped / 2 + rng.uniform(0, capped / 2)


def settings_policy(prefix: str) -> Callable[[], RetryPolicy]:
    """The policy in settings `<prefix>_MAX_ATTEMPTS`, `_BACKOFF_SECONDS`, `_MAX_BACKOFF_SECONDS`,
    read at each drain (tests and operators change settings without a restart)."""

    def policy() -> RetryPolicy:
        settings = get_settings()
        return RetryPolicy(
            max_attempts=getattr(settings, f"{prefix}_MAX_ATTEMPTS"),
            backoff_seconds=getattr(settings, f"{prefix}_BACKOFF_SECONDS"),
            max_backoff_seconds=getattr(settings, f"{prefix}_MAX_BACKOFF_SECONDS"),
        )

    return policy


def _no_record(session: Session, row: Any, result: Result) -> None:
    return None


@dataclass(frozen=True)
class Outbox(Generic[Job]):
    """One kind of delivery: its table, its three steps and its retry policy.

    The table has `id`, `status`, `attempts`, `next_attempt_at`, `claimed_until`, `claim_token`,
    `last_error` and `sent_at`. `group(row)` names rows that share a vendor rate limit (a Slack
    channel). `prepare` receives the `Attempt` and puts what `send` needs into the job.
    """

    name: str
    model: Any
    prepare: Callable[[Session, Any, Attempt], Job | Result]
    send: Callable[[Any, Job], Result]
    policy: Callable[[], RetryPolicy]
    lease: timedelta
    record: Callable[[Session, Any, Result], None] = _no_record
    group: Callable[[Any], str] | None = None

    def due(self, now: datetime) -> Any:
        model = self.model
        return or_(
            and_(model.status == PENDING, model.next_attempt_at <= now),
            and_(model.status == SENDING, model.claimed_until < now),
        )


@dataclass
class DrainResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    deferred: int = 0
    errors: list[str] = field(default_factory=list)


def claim(
    session: Session,
    outbox: Outbox[Any],
    *,
    now: datetime,
    limit: int,
    token: str,
    ids: Sequence[int] | None = None,
) -> list[Claimed]:
    """Mark up to `limit` due rows as ours (oldest first); `ids` narrows to those rows.

    Two statements on purpose: PostgreSQL may re-run an `IN (SELECT … LIMIT … FOR UPDATE SKIP
    LOCKED)` subquery per row and claim more than `limit` rows (measured).
    """
    model = outbox.model
    due = outbox.due(now)
    pick = select(model.id, model.status, model.attempts).where(due)
    if ids is not None:
        pick = pick.where(model.id.in_(list(ids)))
    pick = pick.order_by(model.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    seen = {
        row_id: status == SENDING or attempts > 0
        for row_id, status, attempts in session.execute(pick)
    }
    if not seen:
        return []
    stmt = (
        update(model)
        .where(model.id.in_(list(seen)), due)
        .values(status=SENDING, claim_token=token, claimed_until=now + outbox.lease)
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    return [Claimed(row_id, seen[row_id]) for row_id in sorted(session.scalars(stmt).all())]


def drain(
    outbox: Outbox[Any],
    client: Any,
    *,
    now: datetime | None = None,
    limit: int = 100,
    ids: Sequence[int] | None = None,
    rng: random.Random | None = None,
) -> DrainResult:
    """Claim due rows (or just `ids`) and deliver them through `client`; owns its transactions,
    so it runs beside requests and on any number of instances at once."""
    now = now or utc_now()
    rng = rng or random.Random()
    token = uuid.uuid4().hex
    result = DrainResult()
    if ids is not None and not ids:
        return result
    _register(outbox, token)
    try:
        with session_scope() as session:
            claimed = claim(session, outbox, now=now, limit=limit, token=token, ids=ids)
        result.claimed = len(claimed)
        blocked: dict[str, datetime] = {}
        for row in claimed:
            if shutting_down():
                break
            _deliver(outbox, client, row, token, now, blocked, rng, result)
    finally:
        _unregister(outbox, token)
    if shutting_down():
        release_claims({outbox.name: [token]})
    return result


def _deliver(outbox, client, claimed: Claimed, token, now, blocked, rng, result) -> None:
    with session_scope() as session:
        row = session.get(outbox.model, claimed.id)
        if row is None or row.claim_token != token:
            return  # the lease ran out and another worker took it
        key = outbox.group(row) if outbox.group is not None else None
        if key is not None and key in blocked:
            _release(row, blocked[key])
            result.deferred += 1
            _count(outbox, "deferred")
            return
        prepared = outbox.prepare(session, row, Attempt(claimed.in_doubt, now))
    if isinstance(prepared, Sent | RetryAfter | PermanentFailure):
        outcome = prepared
    else:
        started = time.perf_counter()
        outcome = _send(outbox, client, prepared)
        OUTBOX_SEND_SECONDS.labels(outbox=outbox.name).observe(time.perf_counter() - started)
    with session_scope() as session:
        row = session.get(outbox.model, claimed.id)
        if row is None or row.claim_token != token:
            log.warning("%s delivery %s: lease lost while sending", outbox.name, claimed.id)
            return
        outbox.record(session, row, outcome)
        _apply(outbox, row, outcome, now, rng, result)
    if isinstance(outcome, RetryAfter) and outcome.throttled and key is not None:
        blocked[key] = row.next_attempt_at


def _send(outbox: Outbox[Any], client: Any, job: Any) -> Result:
    try:
        return outbox.send(client, job)
    except VendorTransientError as exc:
        return RetryAfter(str(exc), seconds=exc.retry_after, throttled=exc.retry_after is not None)
    except VendorError as exc:
        return PermanentFailure(str(exc))


def _apply(outbox, row, outcome: Result, now, rng, result: DrainResult) -> None:
    if isinstance(outcome, Sent):
        row.attempts += 1
        row.status = SENT
        row.sent_at = now
        row.last_error = None
        _clear_claim(row)
        result.sent += 1
        _count(outbox, "sent")
    elif isinstance(outcome, PermanentFailure):
        if outcome.status == FAILED:
            row.attempts += 1
            result.failed += 1
            result.errors.append(outcome.reason)
            log.error("%s delivery %s rejected: %s", outbox.name, row.id, outcome.reason)
        else:
            result.cancelled += 1
        row.status = outcome.status
        row.last_error = outcome.reason[:1000]
        _clear_claim(row)
        _count(outbox, outcome.status)
    elif not outcome.attempt:
        _release(row, now + timedelta(seconds=outcome.seconds or 0.0))
        result.deferred += 1
        _count(outbox, "deferred")
    else:
        policy = outbox.policy()
        row.attempts += 1
        row.last_error = outcome.reason[:1000]
        result.errors.append(outcome.reason)
        if row.attempts >= policy.max_attempts:
            row.status = FAILED
            _clear_claim(row)
            result.failed += 1
            _count(outbox, "failed")
            log.error("%s delivery %s gave up: %s", outbox.name, row.id, outcome.reason)
            return
        wait = outcome.seconds if outcome.seconds is not None else policy.wait(row.attempts, rng)
        _release(row, now + timedelta(seconds=max(wait, 0.0)))
        result.retried += 1
        _count(outbox, "retried")
        log.warning("%s delivery %s will retry: %s", outbox.name, row.id, outcome.reason)


def _release(row: Any, at: datetime) -> None:
    row.status = PENDING
    row.next_attempt_at = at
    _clear_claim(row)


def _clear_claim(row: Any) -> None:
    row.claim_token = None
    row.claimed_until = None


def _count(outbox: Outbox[Any], outcome: str) -> None:
    OUTBOX_DELIVERIES.labels(outbox=outbox.name, outcome=outcome).inc()


# Drains running in this process: outbox → (its table, the claim tokens in use).
_claims_lock = threading.Lock()
_claims: dict[str, tuple[Any, set[str]]] = {}


def _register(outbox: Outbox[Any], token: str) -> None:
    with _claims_lock:
        _claims.setdefault(outbox.name, (outbox.model, set()))[1].add(token)


def _unregister(outbox: Outbox[Any], token: str) -> None:
    with _claims_lock:
        _claims[outbox.name][1].discard(token)


def release_claims(tokens: dict[str, Iterable[str]] | None = None) -> int:
    """Hand back the unsent rows claimed under `tokens` (outbox name → tokens; default: every
    drain of this process still running) as due now, so another instance sends them without
    waiting for the lease. Returns how many rows were released."""
    with _claims_lock:
        if tokens is None:
            wanted = {name: (model, list(held)) for name, (model, held) in _claims.items()}
        else:
            wanted = {
                name: (_claims[name][0], list(held))
                for name, held in tokens.items()
                if name in _claims
            }
    released = 0
    for model, held in wanted.values():
        if not held:
            continue
        with session_scope() as session:
            done = session.execute(
                update(model)
                .where(model.claim_token.in_(held), model.status == SENDING)
                .values(
                    status=PENDING, next_attempt_at=utc_now(), claim_token=None, claimed_until=None
                )
                .execution_options(synchronize_session=False)
            )
            released += done.rowcount or 0
    return released


def retry_failed(
    session: Session, outbox: Outbox[Any], ids: Iterable[int] | None, now: datetime
) -> int:
    """Put failed rows (all, or `ids`) back in the queue for an immediate attempt."""
    model = outbox.model
    stmt = (
        update(model)
        .where(model.status == FAILED)
        .values(status=PENDING, next_attempt_at=now, attempts=0, claim_token=None)
        .execution_options(synchronize_session=False)
    )
    if ids is not None:
        stmt = stmt.where(model.id.in_(list(ids)))
    return session.execute(stmt).rowcount or 0


def queued(session: Session, outbox_name: str, row: Any) -> None:
    """Note a row this unit of work queued, so its caller can send just those after commit."""
    session.info.setdefault(f"outbox:{outbox_name}", []).append(row)


def queued_ids(session: Session, outbox_name: str) -> list[int]:
    """The ids of the rows noted by `queued` in this session (flushing to learn them)."""
    rows = session.info.get(f"outbox:{outbox_name}", [])
    if any(row.id is None for row in rows):
        session.flush()
    return [row.id for row in rows if row.id is not None]
