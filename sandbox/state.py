"""The sandbox's mutable state (faults, recorded requests, clock, fleet), one per app instance.

Vendor fakes reach it with `sandbox_state(request)`; fakes that keep their own stores (Slack
messages, placed calls) register a reset hook so `POST /_sandbox/reset` clears them too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.faults import FaultStore, RequestRecorder
from sandbox.simulator import Simulator, fleet_size_from_env, seed_from_env


class SandboxClock:
    """Wall time by default; a test or an operator can freeze it or move it forward."""

    def __init__(self) -> None:
        self._frozen: datetime | None = None
        self._offset = timedelta()

    def __call__(self) -> datetime:
        return self._frozen if self._frozen is not None else datetime.now(UTC) + self._offset

    def freeze(self, at: datetime) -> None:
        self._frozen = at.astimezone(UTC)

    def advance(self, seconds: float) -> None:
        if self._frozen is not None:
            self._frozen += timedelta(seconds=seconds)
        else:
            self._offset += timedelta(seconds=seconds)

    def unfreeze(self) -> None:
        self._frozen, self._offset = None, timedelta()

    def describe(self) -> dict[str, Any]:
        return {"now": self().isoformat(), "frozen": self._frozen is not None}


class SandboxState:
    def __init__(
        self, *, seed: int | None = None, trucks: int | None = None, start: datetime | None = None
    ) -> None:
        self.faults = FaultStore()
        self.recorder = RequestRecorder()
        self.clock = SandboxClock()
        self.store: dict[str, Any] = {}  # free-form per-vendor storage for the fakes
        self._reset_hooks: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self.seed = seed_from_env() if seed is None else seed
        self.trucks = fleet_size_from_env() if trucks is None else trucks
        self.history_hours: float | None = None
        self._defaults = (self.seed, self.trucks, self.history_hours)
        self._customized = False
        # Where the default fleet's timeline is anchored (None: now). A persisted sandbox keeps
        # it across restarts, so the same trips, events and violations keep the same times.
        self.start = start
        self.simulator = self._build()

    def _build(self) -> Simulator:
        return Simulator(
            self.seed,
            self.trucks,
            clock=self.clock,
            start=self.start,
            history_hours=self.history_hours,
        )

    def rebuild_fleet(
        self,
        *,
        seed: int | None = None,
        trucks: int | None = None,
        history_hours: float | None = None,
        start: datetime | None = None,
    ) -> Simulator:
        with self._lock:
            self._customized = True
            self.seed = self.seed if seed is None else seed
            self.trucks = self.trucks if trucks is None else trucks
            self.history_hours = (
                history_hours if history_hours is not None else (self.history_hours)
            )
            self.simulator = Simulator(
                self.seed,
                self.trucks,
                clock=self.clock,
                start=start,
                history_hours=self.history_hours,
            )
            return self.simulator

    def freeze_clock(self, at: datetime) -> None:
        """Freeze time at `at` and re-anchor the fleet there, so a test sees the same fleet
        (same positions, trips, events) for the same seed and time on every run."""
        self.clock.freeze(at)
        self.rebuild_fleet(start=at)

    def on_reset(self, hook: Callable[[], None]) -> None:
        self._reset_hooks.append(hook)

    def reset(self) -> None:
        """Clear faults, recorded requests and every fake's stored state; a frozen clock or a
        resized fleet goes back to the default (wall time, env seed and size), and a delayed truck
        back to its plan."""
        if self.clock.describe()["frozen"] or self._customized or self.simulator.delays:
            self.clock.unfreeze()
            self.seed, self.trucks, self.history_hours = self._defaults
            self.simulator = self._build()
            self._customized = False
        self.faults.clear()
        self.recorder.clear()
        self.store.clear()
        for hook in self._reset_hooks:
            hook()


def sandbox_state(request: Any) -> SandboxState:
    """The state of the app serving `request` (a Starlette Request)."""
    return request.app.state.sandbox
