"""The console writes durations exactly as the hub's Slack messages and reports do: format.js
and helpers.time_utils.format_duration, run on one table (node runs the JS; skipped without)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers.time_utils import format_duration

FORMAT_JS = Path(__file__).resolve().parents[2] / "services" / "console" / "format.js"
MINUTES = [0, 0.4, 0.5, 1.5, 2.5, 45, 59.6, 85, 120, 215.3, 550, 1590, 2880, -5, -0.2]


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_format_js_matches_format_duration():
    script = (
        f"import {{ formatDuration }} from {json.dumps(FORMAT_JS.as_uri())};"
        f"console.log(JSON.stringify({json.dumps(MINUTES)}.map(formatDuration)));"
    )
    out = subprocess.run(
        [str(NODE), "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert json.loads(out.stdout) == [format_duration(m) for m in MINUTES]
    assert format_duration(550) == "9 h 10 min"


def test_the_console_uses_it_for_every_duration():
    views = (FORMAT_JS.parent / "views.js").read_text()
    assert 'from "/console/format.js"' in views
    assert "min late`" not in views and "min spare`" not in views
