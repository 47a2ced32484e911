"""Bad configuration stops a process with one readable line and a non-zero exit."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
    environment.update({"LOG_FORMAT": "text", "PYTHONPATH": str(ROOT), **env})
    # Outside the checkout, so a developer's `.env` there is not read by the child.
    return subprocess.run(
        [sys.executable, *args], cwd=tempfile.gettempdir(), env=environment, capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"}, "cannot start"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL is not a valid database URL"),
        ({"ENVIRONMENT": "production", "SECRET_KEY": "changeme"}, "SECRET_KEY"),
    ],
    ids=["unreachable-db", "malformed-url", "production-secret"],
)
def test_uvicorn_start_fails_in_one_line(env, expected):
    result = _run(["-m", "uvicorn", "main:app", "--port", "0"], **env)
    assert result.returncode != 0
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_reports_unreachable_database_in_one_line():
    result = _run(
        [str(ROOT / "cli.py"), "init-db"], DATABASE_URL="postgresql://postgres@127.0.0.1:1/none"
    )
    assert result.returncode == 1
    assert "cannot reach the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_apps_import_without_the_report_libraries():
    """pandas and matplotlib (with numpy) were a third of the API's import time, and only
    reports, exports and charts use them: importing either app leaves them to the first use."""
    probe = (
        "import sys, ingest_app, main; "
        "print(sorted(m for m in ('matplotlib', 'numpy', 'pandas') if m in sys.modules))"
    )
    with tempfile.TemporaryDirectory() as data:
        result = _run(["-c", probe], SQLITE_PATH=str(Path(data) / "app.db"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
