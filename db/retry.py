"""`@db_retry`: re-run a self-contained unit of work when the database connection drops."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from tenacity import (
    RetryCallState,
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def is_transient_db_error(exc: BaseException) -> bool:
    """Connection-level failures that a fresh attempt can fix; never data or integrity errors."""
    if isinstance(exc, IntegrityError):
        return False
    if isinstance(exc, PoolTimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError)


def _log_retry(state: RetryCallState) -> None:
    # One short line: the exception text would carry the SQL and every bound parameter.
    exc = state.outcome.exception() if state.outcome else None
    orig = getattr(exc, "orig", None) or exc
    reason = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    log.warning(
        "retrying %s (attempt %d) after %s: %s",
        getattr(state.fn, "__qualname__", "unit of work"),
        state.attempt_number,
        type(exc).__name__,
        reason[:200],
    )


def db_retry(
    max_retries: int = 3, *, initial_wait: float = 0.2, max_wait: float = 5.0
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Retry the wrapped unit of work up to `max_retries` extra times on transient DB errors.

    Only for functions that open their own session and are safe to re-run from the start.
    """
    return retry(
        retry=retry_if_exception(is_transient_db_error),
        stop=stop_after_attempt(max_retries + 1),
        wait=wait_random_exponential(multiplier=initial_wait, max=max_wait),
        before_sleep=_log_retry,
        reraise=True,
    )
