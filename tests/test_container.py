"""The Dockerfile, checked without a registry: parsed, and its two commands run exactly as
written, as a non-root user, from a copy of what the runtime stage copies, until /health
answers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from tests.process_support import (
    ROOT,
    VENV_BIN,
    free_port,
    process_env,
    start,
    stop,
    wait_until_up,
)

NOBODY = "65534"


def _dockerfile() -> DockerfileParser:
    return DockerfileParser(path=str(ROOT / "Dockerfile"))


def _runtime_stage() -> list[dict]:
    """Instructions after the last FROM."""
    structure = _dockerfile().structure
    last_from = max(i for i, item in enumerate(structure) if item["instruction"] == "FROM")
    return structure[last_from:]


def _values(instruction: str) -> list[str]:
    return [i["value"] for i in _runtime_stage() if i["instruction"] == instruction]


def _exec_form(instruction: str) -> list[str]:
    (value,) = _values(instruction)
    return yaml.safe_load(value)  # a JSON array is valid YAML


def test_multi_stage_on_slim_python_311():
    froms = [i["value"] for i in _dockerfile().structure if i["instruction"] == "FROM"]
    assert len(froms) >= 2
    assert all(value.split()[0] == "python:3.11-slim" for value in froms)
    assert any("COPY --from=build" in f"COPY {v}" for v in _values("COPY"))


def test_runtime_stage_runs_as_a_non_root_user_on_port_8080():
    (user,) = _values("USER")
    assert user.split(":")[0] not in ("root", "0")
    assert _values("EXPOSE") == ["8080"]
    assert _dockerfile().envs["PORT"] == "8080"


def test_runtime_stage_carries_no_dev_tooling_or_tests():
    copied = " ".join(_values("COPY"))
    for absent in ("tests", "bench", "sandbox", ".env", "pyproject.toml"):
        assert absent not in copied.split()
    build_runs = " ".join(i["value"] for i in _dockerfile().structure if i["instruction"] == "RUN")
    assert "[dev]" not in build_runs
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".env", "tests", "data"} <= set(ignored)


def test_the_two_commands_are_main_and_ingest():
    assert _exec_form("ENTRYPOINT") == ["python", "cli.py", "serve"]
    assert _exec_form("CMD") == ["main"]
    assert _ingest_args() == ["ingest"]


def _ingest_args() -> list[str]:
    service = yaml.safe_load((ROOT / "deploy" / "ingest.yaml").read_text())
    return service["spec"]["template"]["spec"]["containers"][0]["args"]


@pytest.fixture(scope="module")
def image_root() -> Iterator[Path]:
    """/app as the runtime stage builds it: only what its COPY instructions bring."""
    root = Path(tempfile.mkdtemp(prefix="fleet-hub-image-"))
    for value in _values("COPY"):
        if value.startswith("--from"):
            continue
        *sources, destination = value.split()
        for source in sources:
            target = root / (Path(source).name if destination == "./" else destination)
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(ROOT / source, target)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield root
    shutil.rmtree(root)


@pytest.fixture(scope="module")
def non_root() -> Iterator[tuple[str | None, dict[str, str]]]:
    """Who runs the commands, and the `python` on PATH they find.

    As root we drop to nobody, as the image's USER does. nobody may not reach this venv's
    interpreter (pyenv keeps it under /root); then `python` is the system CPython of the same
    minor version with the venv's packages on PYTHONPATH, the image's /opt/venv in spirit.
    """
    if os.geteuid() != 0:
        yield None, {}  # already a non-root user
        return
    probe = ["-c", "import typer, uvicorn, sqlmodel"]
    venv_first = {"PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    if _runs_as_nobody(["python", *probe], venv_first):  # as the command will look it up
        yield NOBODY, {}
        return
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system_python = shutil.which(version, path="/usr/bin:/usr/local/bin")
    bin_dir = Path(tempfile.mkdtemp(prefix="fleet-hub-bin-"))
    bin_dir.chmod(0o755)
    env = {"PYTHONPATH": sysconfig.get_paths()["purelib"]}
    if system_python is not None:
        (bin_dir / "python").symlink_to(system_python)
        env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    if system_python is None or not _runs_as_nobody(["python", *probe], env):
        shutil.rmtree(bin_dir)
        pytest.skip(f"nobody can run neither this venv's interpreter nor a system {version}")
    yield NOBODY, env
    shutil.rmtree(bin_dir)


def _runs_as_nobody(command: list[str], env: dict[str, str]) -> bool:
    drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
    result = subprocess.run(
        [*drop, *command], env={**os.environ, **env}, cwd="/", capture_output=True, check=False
    )
    return result.returncode == 0


@pytest.mark.parametrize("app", ["main", "ingest"])
def test_each_command_serves_health_as_written_as_non_root(image_root, non_root, app):
    as_user, interpreter_env = non_root
    command = _exec_form("ENTRYPOINT") + (_exec_form("CMD") if app == "main" else _ingest_args())
    data = Path(tempfile.mkdtemp(prefix="fleet-hub-data-"))
    data.chmod(0o777)
    port = free_port()
    image_env = {k: v for k, v in _dockerfile().envs.items() if k != "PATH"}
    env = process_env(
        **{**image_env, "PORT": str(port), "SQLITE_PATH": str(data / "app.db"), **interpreter_env}
    )
    server = start(command, env, cwd=image_root, as_user=as_user)
    try:
        wait_until_up(server, f"http://127.0.0.1:{port}/health")
        assert (data / "app.db").stat().st_uid != 0
    finally:
        stop(server)
        shutil.rmtree(data)


# Run from the image's file set only: every module must come from there, and every file the code
# reads at run time (schemas, the console) must have been copied by the runtime stage.
FROM_THE_IMAGE = """
import sys
from pathlib import Path

from fastapi.testclient import TestClient

import ingest_app
import main
from logic.warehouse.bigquery import schema_fields
from logic.warehouse.tables import TABLES

root = Path.cwd().resolve()
ours = ("main", "ingest_app", "config", "db", "models", "services", "logic", "helpers", "utils")
for name, module in list(sys.modules.items()):
    if name.split(".")[0] in ours and getattr(module, "__file__", None):
        assert Path(module.__file__).resolve().is_relative_to(root), (name, module.__file__)
for table in TABLES.values():
    assert schema_fields(table), table.name  # tests/logic/warehouse compares them to the models
client = TestClient(main.app)
page = client.get("/console/")
assert page.status_code == 200 and "<script" in page.text, (page.status_code, page.text[:300])
for asset in ("app.js", "style.css"):
    assert client.get(f"/console/{asset}").status_code == 200, asset
assert TestClient(ingest_app.app).get("/health").status_code == 200
print("image file set ok:", len(TABLES), "warehouse tables")
"""


def test_the_runtime_file_set_imports_both_apps_exports_and_renders_the_console(image_root):
    data = Path(tempfile.mkdtemp(prefix="fleet-hub-data-"))
    env = process_env(SQLITE_PATH=str(data / "app.db"), PYTHONDONTWRITEBYTECODE="1")
    try:
        result = subprocess.run(
            [sys.executable, "-c", FROM_THE_IMAGE], cwd=image_root, env=env,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        shutil.rmtree(data)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "image file set ok" in result.stdout
