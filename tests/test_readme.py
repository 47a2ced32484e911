"""The README's commands, as written: every `hub` command parses through the real entry point,
every `make` target exists, every repository path is there, every shell block is valid shell,
and every curl hits a route of the app on that port with that method.

The stack itself is started by tests/test_readme_tour.py (on free ports), which pastes the
first tour's blocks into a shell; what can go stale anywhere else is checked here.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.routing import Match
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SHELL_BLOCKS = re.findall(r"```sh\n(.*?)```", README, re.S)
# Inline `code` and shell blocks, one command per line (continuations joined, comments cut).
CODE = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", README, flags=re.S)) + [
    line.split(" #")[0].strip()
    for block in SHELL_BLOCKS
    for line in block.replace("\\\n", " ").splitlines()
]
HUB = ".venv/bin/hub"


def _hub_commands() -> list[list[str]]:
    """Each `.venv/bin/hub …` invocation, placeholders (`<user>`, `[--days N]`) made words."""
    found = []
    for text in CODE:
        for match in re.finditer(re.escape(HUB) + r"((?: [^\s|;)`$]+)*)", text):
            words = shlex.split(re.sub(r"[<>\[\]]", "", match.group(1)))
            if words not in found:
                found.append(words)
    return found


def test_the_readme_uses_the_hub_entry_point_and_it_runs():
    commands = _hub_commands()
    assert ["ingest", "samsara", "locations"] in commands and ["service-key"] in commands
    assert not [t for t in CODE if re.search(r"\bpython3? cli\.py\b", t)], "use .venv/bin/hub"
    hub = Path(sys.executable).parent / "hub"  # the console script pyproject installs
    result = subprocess.run([hub, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "service-key" in result.stdout


@pytest.mark.parametrize("words", _hub_commands(), ids=lambda w: " ".join(w) or "hub")
def test_each_hub_command_in_the_readme_parses(words):
    from cli import app

    # --help is eager: it answers once the command and its options are known, runs nothing.
    result = CliRunner().invoke(app, [*words, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_every_make_target_in_the_readme_exists():
    targets = {m for text in CODE for m in re.findall(r"(?:^|\s)make ([a-z][\w.-]*)", text)}
    assert {"run", "test", "lint", "bench"} <= targets
    for target in sorted(targets):
        make = [shutil.which("make") or "make", "-n", target]
        dry = subprocess.run(make, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert dry.returncode == 0, f"make {target}: {dry.stderr}"


def test_every_repository_path_in_the_readme_exists():
    # Paths made at run time (data/, .venv/) are not in a clone; the rest must be. Repository
    # paths start lower-case, which keeps zones (America/Chicago) and settings out.
    paths = {
        t
        for t in CODE
        if re.fullmatch(r"\.?[a-z_][\w-]*(/[\w.-]+)+|[\w.-]+\.(py|md|example|toml)", t)
        and not t.startswith(("data/", ".venv/", "./", "roles/"))  # roles/: IAM role names
    }
    assert "docs/ARCHITECTURE.md" in paths and ".env.example" in paths
    assert [p for p in sorted(paths) if not (ROOT / p).exists()] == []


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=lambda b: b.split("\n")[0][:40])
def test_every_shell_block_is_valid_shell(block):
    bash = [shutil.which("bash") or "bash", "-n"]
    result = subprocess.run(bash, input=block, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _apps():
    from ingest_app import app as ingest
    from main import app as main
    from sandbox.app import create_sandbox_app

    return {"8000": main, "8001": ingest, "8090": create_sandbox_app()}


def _curls() -> list[tuple[str, str, str]]:
    """(port, method, path) of every curl in the shell blocks."""
    out = []
    for text in CODE:
        for command in re.split(r"\$\(|\|", text):
            if not command.strip().startswith("curl"):
                continue
            url = re.search(r"localhost:(\d+)(/[^\s'\"?]*)", command)
            method = re.search(r"-X (\w+)", command)
            if url:
                verb = method.group(1) if method else ("POST" if " -d " in command else "GET")
                out.append((url.group(1), verb, url.group(2)))
    return out


def test_every_curl_in_the_readme_reaches_a_route():
    curls = _curls()
    assert ("8000", "POST", "/auth/token") in curls and len(curls) >= 8
    apps = _apps()
    missing = []
    for port, method, path in curls:
        if path == "/no/such/route":  # the README's example of the unknown-route 404
            continue
        scope = {"type": "http", "method": method, "path": path}
        if not any(r.matches(scope)[0] == Match.FULL for r in apps[port].routes):
            missing.append(f"{method} localhost:{port}{path}")
    assert missing == []


def test_examples_use_only_what_they_set_and_no_placeholders_in_urls():
    """Pasted as they are, examples work: the token is `$T` (set in "A first tour"), the service
    key comes from `$(.venv/bin/hub service-key)`, and no URL carries a `…` to fill in."""
    text = "\n".join(CODE)
    assert "$TOKEN" not in text and "$SERVICE_API_KEY" not in "\n".join(SHELL_BLOCKS)
    urls = re.findall(r"(?:localhost:\d+|https?://)\S*", "\n".join(SHELL_BLOCKS))
    assert [u for u in urls if "…" in u] == []
    assert any("T=$(curl" in block for block in SHELL_BLOCKS)


CONFLICT_MARKER = re.compile(r"^(<{7} |={7}$|>{7} )", re.MULTILINE)


def test_no_merge_conflict_markers_in_the_docs_or_the_code():
    """A rebase once left `<<<<<<<` … `>>>>>>>` in the README's benchmark table unnoticed."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    tracked = subprocess.run(
        [git, "ls-files", "*.md", "*.py", "*.js", "*.html", "*.css", "*.toml", "Makefile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    marked = [
        name
        for name in tracked
        if (ROOT / name).is_file() and CONFLICT_MARKER.search((ROOT / name).read_text("utf-8"))
    ]
    assert marked == []
