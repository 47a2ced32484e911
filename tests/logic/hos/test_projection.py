"""HOS projection: rule invariants over random plans (hypothesis) and worked examples."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logic.hos.projection import (
    BREAK_AFTER,
    CYCLE_LIMIT,
    DRIVE_LIMIT,
    WINDOW_LIMIT,
    Clocks,
    fits_without_rest,
    project,
)

EPS = 1e-6


def replay(clocks: Clocks, projection, cycle_limit: float = CYCLE_LIMIT) -> None:
    """Walk the projected timeline under the rules, starting from the clocks' used time."""
    drive_used = DRIVE_LIMIT - clocks.drive
    window_used = WINDOW_LIMIT - clocks.shift
    since_break = BREAK_AFTER - clocks.until_break
    cycle_used = cycle_limit - clocks.cycle
    t = 0.0
    for seg in projection.timeline:
        assert seg.start >= t - EPS, "segments overlap"
        length = seg.end - seg.start
        window_used += seg.start - t  # gaps would burn the window too (there are none)
        if seg.status == "driving":
            assert drive_used + length <= DRIVE_LIMIT + EPS, "more than 11 h driving"
            assert window_used + length <= WINDOW_LIMIT + EPS, "driving past the 14th hour"
            assert since_break + length <= BREAK_AFTER + EPS, "8 h driving without a break"
            assert cycle_used + length <= cycle_limit + EPS, "cycle exceeded"
            drive_used += length
            since_break += length
            cycle_used += length
            window_used += length
        elif seg.status == "on_duty":
            window_used += length
            cycle_used += length
            if length >= 30:
                since_break = 0
        else:
            credit = clocks.resting_for if seg.start == 0 else 0.0
            if length + credit >= 34 * 60 - EPS:
                cycle_used = 0
            if length + credit >= 10 * 60 - EPS:
                drive_used = window_used = since_break = 0
            else:
                window_used += length
                if length + credit >= 30 - EPS:
                    since_break = 0
        t = seg.end


clock_values = st.builds(
    Clocks,
    drive=st.floats(0, DRIVE_LIMIT),
    shift=st.floats(0, WINDOW_LIMIT),
    until_break=st.floats(0, BREAK_AFTER),
    cycle=st.floats(0, CYCLE_LIMIT),
    resting_for=st.one_of(st.just(0.0), st.floats(0, 40 * 60)),
).filter(lambda c: c.drive <= c.shift and c.drive <= c.cycle)
plans = st.lists(st.floats(0, 40 * 60), min_size=1, max_size=5)


@settings(max_examples=400, deadline=None)
@given(clocks=clock_values, legs=plans, dwell=st.floats(0, 180))
def test_projection_never_breaks_a_rule(clocks, legs, dwell) -> None:
    result = project(clocks, legs, dwell=dwell, timeline=True)
    replay(clocks, result)
    driven = sum(s.end - s.start for s in result.timeline if s.status == "driving")
    assert driven == pytest.approx(sum(legs), abs=1e-3)


@settings(max_examples=300, deadline=None)
@given(clocks=clock_values, legs=plans, dwell=st.floats(0, 180))
def test_legal_arrival_is_never_before_the_physical_one(clocks, legs, dwell) -> None:
    result = project(clocks, legs, dwell=dwell)
    physical = 0.0
    for index, (leg, arrival) in enumerate(zip(legs, result.arrivals, strict=True)):
        physical += leg + (dwell if index else 0)
        assert arrival >= physical - 1e-3
    assert result.arrivals == sorted(result.arrivals)
    if not result.rests:
        assert result.arrivals[-1] == pytest.approx(physical, abs=1e-3)


@settings(max_examples=200, deadline=None)
@given(legs=plans)
def test_fresh_driver_rests_only_when_a_clock_runs_out(legs) -> None:
    result = project(Clocks(DRIVE_LIMIT, WINDOW_LIMIT, BREAK_AFTER, CYCLE_LIMIT), legs)
    first = result.binding
    if sum(legs) <= BREAK_AFTER:
        assert first is None
    else:
        assert first is not None and first.start == pytest.approx(BREAK_AFTER)


FRESH = Clocks(drive=660, shift=840, until_break=480, cycle=4200)

# Worked examples after FMCSA's "Interstate Truck Driver's Guide to Hours of Service" (2022).
# (name, clocks, legs in minutes, dwell, expected arrivals, expected rests as (kind, clock))
EXAMPLES = [
    (
        "8 h driving then a 30-minute break, 11 h then a 10-hour reset",
        FRESH,
        [13 * 60],
        0,
        [8 * 60 + 30 + 3 * 60 + 600 + 2 * 60],
        [("break", "break"), ("reset", "drive")],
    ),
    (
        "30 minutes left in the 14-hour window and a 2-hour leg",
        Clocks(drive=300, shift=30, until_break=300, cycle=2000),
        [120],
        0,
        [30 + 600 + 90],
        [("reset", "shift")],
    ),
    (
        "a 45-minute on-duty dwell counts as the break (2020 rule)",
        FRESH,
        [7 * 60, 3 * 60],
        45,
        [7 * 60, 7 * 60 + 45 + 3 * 60],
        [],
    ),
    (
        "dwell burns the window: 7 h driving + 6 h dwell leave 1 h of window for a 3 h leg",
        FRESH,
        [300, 120, 180],
        180,
        [300, 600, 600 + 180 + 60 + 600 + 120],
        [("reset", "shift")],
    ),
    (
        "cycle runs out after 2 h: a 34-hour restart",
        Clocks(drive=660, shift=840, until_break=480, cycle=120),
        [5 * 60],
        0,
        [120 + 34 * 60 + 180],
        [("restart", "cycle")],
    ),
    (
        "a rest under way counts toward the reset (4 h off already)",
        Clocks(drive=0, shift=0, until_break=0, cycle=3000, resting_for=240),
        [60],
        0,
        [360 + 60],
        [("reset", "drive")],
    ),
    (
        "break due with 20 min of window left: the reset comes first, no break",
        Clocks(drive=200, shift=20, until_break=0, cycle=3000),
        [60],
        0,
        [600 + 60],
        [("reset", "shift")],
    ),
]


@pytest.mark.parametrize(
    ("clocks", "legs", "dwell", "arrivals", "rests"),
    [e[1:] for e in EXAMPLES],
    ids=[e[0] for e in EXAMPLES],
)
def test_fmcsa_examples(clocks, legs, dwell, arrivals, rests) -> None:
    result = project(clocks, legs, dwell=dwell, timeline=True)
    assert result.arrivals == pytest.approx(arrivals)
    assert [(r.kind, r.clock) for r in result.rests] == rests
    replay(clocks, result)


def test_break_inserted_at_eight_hours() -> None:
    result = project(FRESH, [9 * 60])
    assert result.binding is not None
    assert (result.binding.kind, result.binding.start) == ("break", 480)
    assert result.arrivals == [9 * 60 + 30]


@settings(max_examples=300, deadline=None)
@given(clocks=clock_values, legs=plans, dwell=st.floats(0, 180))
def test_the_fast_path_agrees_with_the_projection(clocks, legs, dwell) -> None:
    fits = fits_without_rest(
        clocks.drive, clocks.shift, clocks.until_break, clocks.cycle, legs, dwell
    )
    if fits:
        assert project(clocks, legs, dwell=dwell).rests == []
