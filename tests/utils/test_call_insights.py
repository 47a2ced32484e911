"""Insight extraction, table-driven: transcript rules (delays, ETA, stop city, issues,
acknowledgement, follow-up) and provider structured output, which wins field by field."""

from __future__ import annotations

import pytest

from utils.call_insights import (
    STRUCTURED,
    TRANSCRIPT_RULE,
    Turn,
    extract_insights,
    transcript_insights,
    turns_from_text,
    turns_from_vapi,
)

CITIES = ["Dallas", "Oklahoma City", "Memphis"]


def _said(*lines: str) -> list[Turn]:
    turns = [Turn("agent", "Hi, this is the fleet desk. Are you on time for Dallas at 3 pm?")]
    return turns + [Turn("user", line) for line in lines]


# (driver lines, expected fields); None = must be absent; "issues" compared as a set.
TRANSCRIPTS = [
    (["Running about 45 minutes late."], {"delay": 45, "issues": None, "follow": False}),
    (["I'm 2 hours behind."], {"delay": 120, "follow": True}),
    (["Maybe an hour and a half late, traffic is bad."], {"delay": 90, "issues": {"traffic"}}),
    (["Half an hour late probably."], {"delay": 30}),
    (["Delayed by 20 minutes at the shipper."], {"delay": 20, "issues": {"shipper_delay"}}),
    (["Two and a half hours behind because of the snow."], {"delay": 150, "issues": {"weather"}}),
    (["About 30 min delay, wreck on I-35."], {"delay": 30, "issues": {"traffic"}}),
    (["All good, right on schedule."], {"delay": 0, "follow": False}),
    (["On time, I'll be there by 4:30 pm."], {"delay": 0, "eta": "16:30"}),
    (["ETA 14:15 at the receiver."], {"eta": "14:15", "issues": {"receiver_delay"}}),
    (["I should arrive at 3."], {"eta": "15:00"}),
    (["Should get there around 9 am."], {"eta": "09:00"}),
    (["I'm just outside Oklahoma City."], {"location": "Oklahoma City"}),
    (["Fueling up in memphis right now."], {"location": "Memphis"}),
    (
        ["I broke down, flat tire, waiting on a tow truck."],
        {"issues": {"breakdown"}, "follow": True},
    ),
    (["Not feeling well, might need a doctor."], {"issues": {"health"}, "follow": True}),
    (["I'm going to run out of hours, need my 10-hour break."], {"issues": {"hos"}}),
    (["No traffic at all, no weather either."], {"issues": None}),
    (["Stuck at the receiver waiting for a door."], {"issues": {"receiver_delay"}}),
    (["Can someone call me back about the load?"], {"follow": True}),
    (["I understand, my mistake, won't happen again."], {"ack": True}),
    (["That's wrong, the ELD is wrong."], {"ack": False, "follow": True}),
    (
        ["Heavy rain and construction, about 40 minutes late."],
        {"delay": 40, "issues": {"weather", "traffic"}},
    ),
    (["Yeah."], {"delay": None, "eta": None, "location": None, "issues": None, "follow": False}),
]


@pytest.mark.parametrize(("lines", "expected"), TRANSCRIPTS)
def test_transcript_rules(lines, expected):
    found = extract_insights(turns=_said(*lines), stop_cities=CITIES)
    values = {
        "delay": found.delay_minutes and found.delay_minutes.value,
        "eta": found.eta and found.eta.value,
        "location": found.location and found.location.value,
        "issues": set(found.issues.value) if found.issues else None,
        "ack": found.violation_acknowledged.value if found.violation_acknowledged else None,
        "follow": found.needs_follow_up.value if found.needs_follow_up else None,
    }
    for field, want in expected.items():
        assert values[field] == want, (lines, field, values)
    for name, detail in found.provenance().items():
        assert detail["source"] == TRANSCRIPT_RULE and 0 < detail["confidence"] <= 1, name


def test_the_agent_mentioning_a_city_or_time_is_not_the_driver_saying_it():
    found = extract_insights(
        turns=[Turn("agent", "Will you make Dallas by 3 pm?"), Turn("user", "Yes.")],
        stop_cities=CITIES,
    )
    assert found.location is None and found.eta is None


STRUCTURED_CASES = [
    ({"delay_minutes": 40, "needs_dispatch_callback": False}, {"delay": 40, "follow": False}),
    ({"delay_minutes": "25"}, {"delay": 25}),
    ({"minutes_late": 12.6}, {"delay": 13}),
    ({"eta": "4:30 PM"}, {"eta": "16:30"}),
    ({"eta_time": "07:05"}, {"eta": "07:05"}),
    ({"current_city": "dallas"}, {"location": "Dallas"}),
    ({"location": "rest area on I-40"}, {"location": "rest area on I-40"}),
    ({"issue_reported": "traffic"}, {"issues": {"traffic"}}),
    ({"delay_reason": "road closure"}, {"issues": {"traffic"}}),
    ({"issues": ["weather", "HOS"]}, {"issues": {"weather", "hos"}}),
    ({"issue_reported": "alien abduction"}, {"issues": {"other"}}),
    ({"issue_reported": "none"}, {"issues": None}),
    ({"violation_acknowledged": "yes"}, {"ack": True}),
    ({"needs_follow_up": True, "follow_up_reason": "reefer alarm"}, {"follow": True}),
]


@pytest.mark.parametrize(("data", "expected"), STRUCTURED_CASES)
def test_structured_output(data, expected):
    found = extract_insights(turns=[], structured=data, stop_cities=CITIES)
    values = {
        "delay": found.delay_minutes and found.delay_minutes.value,
        "eta": found.eta and found.eta.value,
        "location": found.location and found.location.value,
        "issues": set(found.issues.value) if found.issues else None,
        "ack": found.violation_acknowledged.value if found.violation_acknowledged else None,
        "follow": found.needs_follow_up.value if found.needs_follow_up else None,
    }
    for field, want in expected.items():
        assert values[field] == want, (data, field, values)
    for name in ("delay_minutes", "eta", "location", "issues"):
        if name in found.provenance() and getattr(found, name).source == STRUCTURED:
            assert found.provenance()[name]["confidence"] == 0.95


def test_structured_wins_and_transcript_fills_the_gaps():
    turns = _said("Running 50 minutes late near Memphis, I'll be there by 5 pm.")
    found = extract_insights(turns=turns, structured={"delay_minutes": 35}, stop_cities=CITIES)
    assert (found.delay_minutes.value, found.delay_minutes.source) == (35, STRUCTURED)
    assert (found.location.value, found.location.source) == ("Memphis", TRANSCRIPT_RULE)
    assert (found.eta.value, found.eta.source) == ("17:00", TRANSCRIPT_RULE)


def test_a_driver_asking_for_help_overrides_a_structured_no():
    found = extract_insights(
        turns=_said("Engine light is on, I need a tow."),
        structured={"needs_dispatch_callback": False},
    )
    assert found.needs_follow_up.value is True
    assert "breakdown" in found.follow_up_reason


def test_vapi_shapes_become_turns():
    messages = [
        {"role": "system", "message": "You are a dispatcher."},
        {"role": "bot", "message": "Hi Jo"},
        {"role": "user", "message": "Hey"},
        {"role": "tool_calls", "message": ""},
    ]
    assert turns_from_vapi(messages) == [Turn("agent", "Hi Jo"), Turn("user", "Hey")]
    assert turns_from_text("AI: Hi Jo\nUser: 20 minutes late\n") == [
        Turn("agent", "Hi Jo"),
        Turn("user", "20 minutes late"),
    ]


@pytest.mark.parametrize(
    ("said", "reason"),
    [
        ("they say there's no door open until three", "no_door"),
        ("still waiting on the lumper to show up", "lumper"),
        ("the bill of lading isn't signed yet", "paperwork"),
        ("we're still loading, they haven't loaded half of it", "not_loaded"),
        ("all good, I'm rolling now", None),
    ],
)
def test_hold_reason_from_a_facility_check(said, reason):
    found = extract_insights(turns=[Turn("user", said)], purpose="facility_check")
    assert (found.hold_reason.value if found.hold_reason else None) == reason


def test_structured_hold_reason_wins_and_unknown_text_is_other():
    found = extract_insights(
        turns=[Turn("user", "no door yet")], structured={"hold_reason": "Lumper"}
    )
    assert (found.hold_reason.value, found.hold_reason.source) == ("lumper", "structured")
    other = extract_insights(turns=[], structured={"detention_reason": "fire drill"})
    assert other.hold_reason.value == "other"


@pytest.mark.parametrize(
    ("line", "minutes"),
    [
        ("Voy como 45 minutos tarde por el tráfico", 45),
        ("Llevo dos horas de retraso", 120),
        ("una hora y media tarde, se me ponchó una llanta", 90),
        ("media hora tarde nada más", 30),
        ("Tengo un retraso de 40 minutos", 40),
        ("Voy a tiempo, sin problema", 0),
    ],
)
def test_spanish_transcripts_give_the_delay(line, minutes):
    assert transcript_insights(_said(line)).delay_minutes.value == minutes


def test_spanish_issues_negation_and_call_back():
    found = transcript_insights(
        _said("Se descompuso el camión, sin tráfico. Llámame por favor, necesito una grúa.")
    )
    assert found.issues.value == ["breakdown"]
    assert found.needs_follow_up.value is True
    assert "call back" in found.follow_up_reason
