"""The console writes durations exactly as the hub's Slack messages and reports do: format.js
and helpers.time_utils.format_duration, run on one table (node runs the JS; skipped without)."""

from __future__ import annotations

import json
import re
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
    """No module writes minutes or hours by itself ("550 min late"): each one that shows a
    duration imports formatDuration."""
    modules = {p.name: p.read_text() for p in FORMAT_JS.parent.glob("*.js") if p != FORMAT_JS}
    # api.js stands alone (tests/services/test_console_login.py imports it by itself); its one
    # duration is a lock of whole minutes, an hour at most.
    modules.pop("api.js")
    imports = re.compile(r'import \{[^}]*formatDuration[^}]*\} from "/console/format.js"')
    for name, text in modules.items():
        assert not re.search(r"\}\s*(min|h)\b", text), name
        if "formatDuration(" in text:
            assert imports.search(text), name
    users = [n for n, t in modules.items() if "formatDuration(" in t]
    assert {"board.js", "map.js", "driver.js", "reports.js"} <= set(users)
