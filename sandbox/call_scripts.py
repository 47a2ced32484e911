"""What the driver says on a sandbox call: one script per scenario, shared by both call fakes.

The scenario is the called number's second-to-last digit (the last digit picks the outcome), so
a fleet of demo drivers exercises every insight rule: delays in minutes and hours, an ETA clock
time, the next stop's city, each issue keyword family, acknowledgement, dispute and call-back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Script:
    turns: list[tuple[str, str]]  # ("agent" | "user", text)
    summary: str
    structured: dict[str, Any] | None  # what a provider's structured output would extract


def is_urgent(number: str) -> bool:
    """Scenarios 1 (a breakdown) and 5 (feeling unwell): the ones an agent transfers."""
    return len(number) >= 2 and number[-2] in "15"


def _delay(seed: str) -> int:
    return 10 + int(hashlib.sha256(seed.encode()).hexdigest()[:4], 16) % 51


def script_for(number: str, variables: dict[str, Any], seed: str) -> Script:
    name = str(variables.get("driver_first_name") or variables.get("driver_name") or "there")
    load = variables.get("load_id") or variables.get("trip_id")
    city = str(variables.get("next_stop_city") or "") or "the next stop"
    topic = f"load {load}" if load and load != "unknown" else "the safety alert on your truck"
    delay = _delay(seed)
    scenario = int(number[-2]) if len(number) >= 2 and number[-2].isdigit() else 0
    opening = [
        (
            "agent",
            f"Hi {name}, this is the automated assistant from the fleet desk. "
            "Do you have a minute?",
        ),
        ("user", "Yeah, go ahead."),
        ("agent", f"We're checking in about {topic}. How are things going?"),
    ]
    closing = [("agent", "Thanks, I'll let dispatch know. Drive safe.")]
    said, summary, structured = {
        2: (
            f"Running about {delay} minutes late, traffic near the exit. Truck is fine.",
            f"Driver {name} reports a {delay} minute delay due to traffic; no safety issues.",
            {"delay_minutes": delay, "issue_reported": "traffic", "needs_dispatch_callback": False},
        ),
        1: (
            f"I broke down outside {city}, waiting on a tow truck. Probably two hours behind. "
            "Can someone call me back?",
            f"Driver {name} broke down near {city}; about two hours late and wants a call back.",
            None,
        ),
        0: (
            f"Snow on the pass, slow going near {city}. I'll be there by 4:30 pm.",
            f"Driver {name} is slowed by snow near {city}; new ETA 4:30 pm.",
            {"eta": "4:30 PM", "current_city": city, "issue_reported": "weather"},
        ),
        3: (
            "Stuck at the receiver waiting for a door, about an hour and a half behind.",
            f"Driver {name} is held at the receiver, about 90 minutes late.",
            None,
        ),
        4: (
            "I'm going to run out of hours, I need my 10-hour break. About 3 hours late then.",
            f"Driver {name} must take a 10-hour break; about 3 hours late.",
            {"delay_minutes": 180, "issue_reported": "hos"},
        ),
        5: (
            "Honestly I'm not feeling well, I might need a doctor. Have dispatch call me.",
            f"Driver {name} feels unwell and asked dispatch to call.",
            None,
        ),
        6: (
            "All good, right on schedule. Should arrive at 3 pm.",
            f"Driver {name} is on schedule, arriving around 3 pm.",
            {"delay_minutes": 0, "eta": "15:00"},
        ),
        7: (
            "I understand, my mistake on that one. It won't happen again.",
            f"Driver {name} acknowledged the violation.",
            None,
        ),
        8: (
            f"The shipper was still loading when I got there, so I'm {delay} minutes behind.",
            f"Driver {name} was delayed {delay} minutes by the shipper.",
            {"delay_minutes": delay, "delay_reason": "shipper delay"},
        ),
        9: (
            "That's wrong, the ELD is wrong. I took my break like I was supposed to.",
            f"Driver {name} disputes the recorded violation.",
            None,
        ),
    }[scenario]
    return Script(
        turns=[*opening, ("user", said), *closing], summary=summary, structured=structured
    )
