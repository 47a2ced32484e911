"""The sandbox's world kept on disk (`hub sandbox --state-dir data/sandbox`, as `make run` does).

A real workspace, phone provider and mailbox do not forget what they hold when the hub restarts,
and neither may the sandbox: the hub keeps Slack `ts` values, call ids and the fleet's history.
Without this, a second `make run` on kept data met `message_not_found` updating its alerts'
Slack messages, and a fleet re-anchored at the new start time re-reported the same HOS
violations at shifted times. Kept: the fleet's anchor (seed, size, start) and the trucks made
late (`sandbox/delays.py`, replayed in order), Slack channels,
messages and files, VAPI calls, ElevenLabs conversations and batches, and the mailbox.

Written atomically (temporary file, then rename) every `interval` seconds when something
changed, and once more at shutdown.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from sandbox import delays, elevenlabs, mail, slack, vapi
from sandbox.state import SandboxState

log = logging.getLogger(__name__)

VERSION = 1
FILENAME = "state.json"


def anchor(state_dir: Path, seed: int, trucks: int) -> datetime | None:
    """The stored fleet start, if the stored fleet is this one (same seed and size)."""
    data = _read(state_dir)
    fleet = (data or {}).get("fleet") or {}
    if fleet.get("seed") == seed and fleet.get("trucks") == trucks and fleet.get("start"):
        return datetime.fromisoformat(fleet["start"])
    return None


def _read(state_dir: Path) -> dict[str, Any] | None:
    path = state_dir / FILENAME
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("sandbox state %s unreadable (%s): starting empty", path, exc)
        return None
    return data if isinstance(data, dict) and data.get("version") == VERSION else None


class Persistence:
    """Loads the stores at start and writes them back while the sandbox runs."""

    def __init__(self, state_dir: Path, state: SandboxState, interval: float = 2.0) -> None:
        self.state_dir = Path(state_dir)
        self.state = state
        self.interval = interval
        self._last = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def load(self) -> bool:
        data = _read(self.state_dir)
        if data is None:
            return False
        slack.store.restore(data.get("slack") or {})
        vapi.restore(data.get("vapi") or {})
        elevenlabs.restore(data.get("elevenlabs") or {})
        mail.store.restore(data.get("mail") or [])
        fleet = data.get("fleet") or {}
        if self._same_fleet(fleet):
            delays.replay(self.state.simulator, fleet.get("delays") or [])
        return True

    def _same_fleet(self, fleet: dict[str, Any]) -> bool:
        sim = self.state.simulator
        return (fleet.get("seed"), fleet.get("trucks"), fleet.get("start")) == (
            sim.seed,
            sim.size,
            sim.start.isoformat(),
        )

    def snapshot(self) -> dict[str, Any]:
        sim = self.state.simulator
        return {
            "version": VERSION,
            "fleet": {
                "seed": sim.seed,
                "trucks": sim.size,
                "start": sim.start.isoformat(),
                "delays": [d.export() for d in sim.delays],
            },
            "slack": slack.store.export(),
            "vapi": vapi.export(),
            "elevenlabs": elevenlabs.export(),
            "mail": mail.store.export(),
        }

    def save(self) -> bool:
        """Write the state if it changed since the last write; True when written."""
        with self._lock:
            text = json.dumps(self.snapshot(), separators=(",", ":"))
            if text == self._last:
                return False
            self.state_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.state_dir, prefix=".state-", suffix=".json")
            try:
                with os.fdopen(fd, "w") as out:
                    out.write(text)
                os.replace(tmp, self.state_dir / FILENAME)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            self._last = text
            return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sandbox-persistence", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.save()
            except Exception:  # a full disk must not stop the sandbox; say so and go on
                log.exception("could not save the sandbox state to %s", self.state_dir)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.save()
