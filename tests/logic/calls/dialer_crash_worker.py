"""A dialer process (the scheduled tick: ladder, campaigns, recovery) that can stop at a named
crash point and wait there to be killed with SIGKILL; run by tests/logic/calls/test_dialer_crash.py.

    python -m tests.logic.calls.dialer_crash_worker POINT NOW

POINT: `claimed` (a campaign target is claimed, its call not yet requested), `queued` (the
call's request is committed, the dialer has not taken it), `dial_started` (the dialer committed
that it is dialing, the vendor has not been asked), `vendor_answered` (the vendor placed the
call, the answer is not recorded) or `none` (run the tick through).
NOW: the tick's time (ISO 8601), so a restart can be run a lease later without waiting.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from typing import Any

from config import get_settings
from logic.calls import campaigns
from logic.calls.voice.vapi import VapiProvider

POINTS = ("claimed", "queued", "dial_started", "vendor_answered", "none")


def _stop_here(point: str) -> None:
    print(f"crash-point {point}", flush=True)
    time.sleep(600)  # the test kills us now
    raise SystemExit("not killed")


def arm(point: str) -> None:
    if point == "claimed":

        def request_claim(*args: Any, **kwargs: Any) -> Any:
            _stop_here(point)

        campaigns.request_claim = request_claim
    elif point == "queued":
        real_dial_many = campaigns.dial_many

        def dial_many(call_ids: Any, dialer: Any, *, now: Any = None) -> Any:
            if call_ids:
                _stop_here(point)
            return real_dial_many(call_ids, dialer, now=now)

        campaigns.dial_many = dial_many
    elif point in ("dial_started", "vendor_answered"):
        real_dial = VapiProvider.dial

        def dial(self: VapiProvider, spec: Any) -> Any:
            if point == "dial_started":
                _stop_here(point)
            dialed = real_dial(self, spec)
            _stop_here(point)
            return dialed

        VapiProvider.dial = dial  # type: ignore[method-assign]


if __name__ == "__main__":
    crash_point, at = sys.argv[1], datetime.fromisoformat(sys.argv[2])
    assert crash_point in POINTS, crash_point
    arm(crash_point)
    result = campaigns.run_tick(get_settings(), now=at)
    print(f"tick {result.as_dict()}", flush=True)
