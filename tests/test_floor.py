"""The floor `make test-floor` installs is the floor pyproject.toml declares, package by package."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _lower_bounds() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    bounds = {}
    for requirement in project["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?>=([0-9.]+)", requirement)
        if match:
            bounds[match[1].lower()] = match[2]
    return bounds


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / ".ci" / "floor-constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def _parts(version: str) -> tuple[int, ...]:
    parts = tuple(int(p) for p in version.split("."))
    return parts + (0,) * (3 - len(parts))


def test_every_pinned_package_is_pinned_at_its_declared_lower_bound():
    bounds, pins = _lower_bounds(), _pins()
    assert {"fastapi", "starlette", "sqlalchemy", "sqlmodel", "pydantic"} <= set(pins)
    for name, version in pins.items():
        assert name in bounds, f"{name} has no lower bound in pyproject.toml"
        assert _parts(version) == _parts(bounds[name]), name
