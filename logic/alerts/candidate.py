"""What a detector reports: one `Candidate` per problem it sees in the current state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Candidate:
    """A detected problem. `fingerprint` (type + subject) is stable across passes.

    `occurrence_key` names a discrete event (a safety event id, a violation id): a new key
    under an open alert is a re-occurrence (thread reply); an already-seen key is ignored.
    Continuous conditions (GPS stale, late) leave it None.
    """

    type: str
    subject: str
    title: str
    message: str = ""
    severity: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    trip_id: int | None = None
    driver_id: int | None = None
    vehicle_id: int | None = None
    terminal: str | None = None
    fleet_manager: str | None = None
    occurrence_key: str | None = None

    @property
    def fingerprint(self) -> str:
        return f"{self.type}:{self.subject}"
