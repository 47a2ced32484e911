"""constraints.txt (the versions the suite passed with) pins every dependency pyproject.toml
declares, inside its bounds, and every install takes it: `make`, and the container's build."""

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.process_support import ROOT


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for group in project["optional-dependencies"].values() for r in group]
    return [Requirement(r) for r in [*project["dependencies"], *extras]]


def test_every_declared_dependency_is_pinned_within_its_bounds():
    pins = _pins()
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in constraints.txt (make lock)"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {requirement.name}=={pins[name]} outside {requirement}"
        )


def test_every_install_takes_the_constraints():
    installs = re.findall(r"[^\n]*pip install[^\n]*", (ROOT / "Makefile").read_text())
    project_installs = [line for line in installs if "-e '.[dev]'" in line and "floor" not in line]
    assert project_installs
    # `make lock` alone resolves afresh: that is how the file is made.
    assert [line for line in project_installs if "-c constraints.txt" not in line] == [
        line for line in project_installs if "LOCK_VENV" in line
    ]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install . -c constraints.txt" in dockerfile
    assert "constraints.txt" in next(
        line for line in dockerfile.splitlines() if line.startswith("COPY pyproject.toml")
    )
