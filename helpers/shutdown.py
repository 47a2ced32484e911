"""The process-wide "shutting down" flag: set on SIGTERM, read by long-running work."""

from __future__ import annotations

import threading

_requested = threading.Event()


def request_shutdown() -> None:
    _requested.set()


def shutting_down() -> bool:
    return _requested.is_set()


def reset() -> None:
    """Clear the flag (tests that simulate a shutdown inside one process)."""
    _requested.clear()
