"""The locks (constraints.txt, the versions the suite passed with; .ci/floor-lock.txt, the floor
run's) pin every dependency pyproject.toml declares, inside its bounds, and every install takes
one: `make` and the container's build the first, `make test-floor` the second."""

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.process_support import ROOT


def _pins(path: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / path).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for group in project["optional-dependencies"].values() for r in group]
    return [Requirement(r) for r in [*project["dependencies"], *extras]]


@pytest.mark.parametrize("lock", ["constraints.txt", ".ci/floor-lock.txt"])
def test_every_declared_dependency_is_pinned_within_its_bounds(lock):
    pins = _pins(lock)
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in {lock} (make lock)"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock} pins {requirement.name}=={pins[name]} outside {requirement}"
        )


def test_the_floor_lock_holds_the_floor():
    floor, locked = _pins(".ci/floor-constraints.txt"), _pins(".ci/floor-lock.txt")
    assert {name: locked.get(name) for name in floor} == floor


def test_every_install_takes_a_lock():
    makefile = (ROOT / "Makefile").read_text()
    installs = re.findall(r"[^\n]*pip install[^\n]*-e '\.\[dev\]'[^\n]*", makefile)
    # `make lock` alone resolves afresh (in $(LOCK_VENV)): that is how the locks are made.
    unlocked = [line for line in installs if "LOCK_VENV" not in line]
    assert unlocked == [
        "\t$(BIN)/python -m pip install --progress-bar on -e '.[dev]' -c constraints.txt",
        "\t$(FLOOR_VENV)/bin/python -m pip install -q -e '.[dev]' -c .ci/floor-lock.txt",
    ]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install . -c constraints.txt" in dockerfile
    assert "constraints.txt" in next(
        line for line in dockerfile.splitlines() if line.startswith("COPY pyproject.toml")
    )
