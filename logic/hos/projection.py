"""Earliest legal arrival at each remaining stop, from a driver's HOS clocks and a driving plan.

Property-carrying FMCSA rules (49 CFR 395.3, property carriers):
- 11 h driving, then 10 consecutive hours off duty (the reset) before driving again;
- no driving after the 14th hour since coming on duty (the window runs on the wall clock:
  breaks and dwell burn it); on-duty work past it is legal, driving is not;
- a 30-minute interruption of driving after 8 cumulative hours driving; since 2020 any 30
  consecutive minutes not driving counts (off duty, sleeper or on duty), so a dwell of 30 min
  or more at a stop satisfies it;
- 60 h / 7 days or 70 h / 8 days on duty (driving and dwell), then a 34 h restart.

All times are minutes from "now". The projection is deliberately conservative where the rules
offer relief we cannot know about (the sleeper-berth split, hours rolling off the 8-day cycle,
adverse-driving extensions): it never promises an arrival the driver may not make.
One function serves the fleet-wide pass and the per-driver endpoint; `timeline=True` also
returns every segment (what the property tests replay against the rules).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

DRIVE_LIMIT = 11 * 60
WINDOW_LIMIT = 14 * 60
BREAK_AFTER = 8 * 60
BREAK = 30
RESET = 10 * 60
RESTART = 34 * 60
CYCLE_LIMIT = 70 * 60
_EPS = 1e-6

# Binding clock names, as stored on the trip and shown to people.
DRIVE, WINDOW, BREAK_CLOCK, CYCLE = "drive", "shift", "break", "cycle"
CLOCK_LABELS = {
    DRIVE: "11-hour driving limit",
    WINDOW: "14-hour window",
    BREAK_CLOCK: "30-minute break",
    CYCLE: "70-hour cycle",
}
# What each exhausted clock costs: the off-duty time that restores it.
REST_FOR = {DRIVE: RESET, WINDOW: RESET, BREAK_CLOCK: BREAK, CYCLE: RESTART}


class Clocks(NamedTuple):
    """Minutes left on each clock now (Samsara's `clocks`), never negative once projected."""

    drive: float
    shift: float
    until_break: float
    cycle: float
    # Minutes the driver has already been off duty (0 when driving or on duty): a rest under
    # way counts toward the reset it is part of.
    resting_for: float = 0.0


class Rest(NamedTuple):
    kind: str  # "break", "reset" or "restart"
    clock: str  # the clock that ran out (drive, shift, break, cycle)
    start: float  # minutes from now
    end: float


class Segment(NamedTuple):
    status: str  # driving, on_duty, off_duty
    start: float
    end: float


@dataclass
class Projection:
    arrivals: list[float]  # minutes from now, one per stop (legal)
    rests: list[Rest] = field(default_factory=list)
    timeline: list[Segment] = field(default_factory=list)

    @property
    def binding(self) -> Rest | None:
        """The first rest the plan needs: its clock binds, and when it starts is when."""
        return self.rests[0] if self.rests else None


_REST_KIND = {DRIVE: "reset", WINDOW: "reset", BREAK_CLOCK: "break", CYCLE: "restart"}


def project(
    clocks: Clocks,
    legs: Sequence[float],
    *,
    dwell: float | Sequence[float] = 0.0,
    cycle_limit: float = CYCLE_LIMIT,
    timeline: bool = False,
) -> Projection:
    """Legal arrival at the end of each leg (drive minutes) with `dwell` on duty at every stop
    but the last. Rests are inserted just as a clock runs out, which is the earliest legal plan
    for a driver who drives whenever allowed."""
    drive, shift = max(clocks.drive, 0.0), max(clocks.shift, 0.0)
    until_break, cycle = max(clocks.until_break, 0.0), max(clocks.cycle, 0.0)
    resting = clocks.resting_for
    t = 0.0
    arrivals: list[float] = []
    rests: list[Rest] = []
    segments: list[Segment] = []
    last = len(legs) - 1
    stays = [float(dwell)] * last if isinstance(dwell, int | float) else list(dwell)
    for index, leg in enumerate(legs):
        left = max(leg, 0.0)
        while left > _EPS:
            can = min(drive, shift, until_break, cycle)
            if can <= _EPS:
                # The most expensive exhausted clock decides the rest (a restart also resets
                # the day, a reset also satisfies the break).
                if cycle <= _EPS:
                    clock = CYCLE
                elif drive <= _EPS:
                    clock = DRIVE
                elif shift <= _EPS:
                    clock = WINDOW
                elif shift <= BREAK:
                    clock = WINDOW  # a break would leave no window: the reset is sooner
                else:
                    clock = BREAK_CLOCK
                need = REST_FOR[clock]
                if t == 0.0 and resting > 0:
                    need = max(need - resting, 0.0)  # the rest under way counts
                rests.append(Rest(_REST_KIND[clock], clock, t, t + need))
                if timeline:  # even a rest already served: the timeline shows where it ends
                    segments.append(Segment("off_duty", t, t + need))
                t += need
                if clock == BREAK_CLOCK:
                    shift -= need
                    until_break = BREAK_AFTER
                else:
                    drive, shift, until_break = DRIVE_LIMIT, WINDOW_LIMIT, BREAK_AFTER
                    if clock == CYCLE:
                        cycle = cycle_limit
                continue
            step = can if can < left else left
            if timeline:
                segments.append(Segment("driving", t, t + step))
            t += step
            left -= step
            drive -= step
            shift -= step
            until_break -= step
            cycle -= step
        arrivals.append(t)
        if index < last:
            stay = stays[index]
            if stay > 0:
                if timeline:
                    segments.append(Segment("on_duty", t, t + stay))
                t += stay
                shift = max(shift - stay, 0.0)
                cycle = max(cycle - stay, 0.0)
                if stay >= BREAK:
                    until_break = BREAK_AFTER
    return Projection(arrivals, rests, segments)


def fits_without_rest(
    drive: float,
    shift: float,
    until_break: float,
    cycle: float,
    legs: Sequence[float],
    dwell: float,
) -> bool:
    """True when `project` would insert no rest: the plan fits every clock as it stands (the
    fleet pass's fast path; most trips are a few hours from their next stop)."""
    driving = sum(legs)
    on_duty = driving + dwell * (len(legs) - 1)
    return driving <= min(drive, until_break) and on_duty <= min(shift, cycle)
