"""The import contracts in pyproject.toml (`make lint` runs `lint-imports`) hold on the code, and
fail on a planted wrong-way import (the alerts domain importing the calls domain)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("services", "logic", "models", "db", "utils", "helpers")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    # The console script sits next to this interpreter (the project's venv).
    script = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(script), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_the_contracts_hold():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_wrong_way_import_breaks_them(tmp_path):
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    ladder = tmp_path / "logic" / "alerts" / "ladder.py"
    ladder.write_text(ladder.read_text() + "\nfrom logic.calls import placement  # noqa\n")

    result = _lint_imports(tmp_path)

    assert result.returncode != 0
    assert "Logic domains point one way" in result.stdout
    assert "logic.alerts.ladder -> logic.calls.placement" in result.stdout
