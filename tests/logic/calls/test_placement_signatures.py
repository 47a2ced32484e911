"""No call-placement function takes more than 6 parameters (issue 22, "Done means"): a value
object (`CallRequest`, `Asker`, …) carries the rest. Dataclass constructors are the value objects
themselves and are not counted."""

from __future__ import annotations

import dataclasses
import importlib
import inspect

import pytest

MAX_PARAMETERS = 6
PLACEMENT_MODULES = (
    "logic.calls.placement",
    "logic.calls.dialing",
    "logic.calls.ladder_calls",
    "logic.calls.service",
    "logic.calls.campaigns",
    "logic.calls.campaign_ops",
    "logic.calls.reconcile",
    "services.driver_data",
)
# Still over the limit when this test was written; the figure may only go down (and the entry
# must go once the function is fixed, so the list cannot hide a new one).
KNOWN_OVER: dict[str, int] = {}


def _functions(module_name: str):
    module = importlib.import_module(module_name)
    for name, value in vars(module).items():
        if inspect.isfunction(value) and value.__module__ == module_name:
            yield f"{module_name}.{name}", value
        elif inspect.isclass(value) and value.__module__ == module_name:
            if dataclasses.is_dataclass(value):
                continue
            for attr, method in vars(value).items():
                if inspect.isfunction(method):
                    yield f"{module_name}.{name}.{attr}", method


def _count(function) -> int:
    parameters = list(inspect.signature(function).parameters)
    return len(parameters) - (parameters[:1] in (["self"], ["cls"]))


@pytest.mark.parametrize("module_name", PLACEMENT_MODULES)
def test_placement_functions_take_at_most_six_parameters(module_name: str) -> None:
    over = {
        name: _count(function)
        for name, function in _functions(module_name)
        if _count(function) > MAX_PARAMETERS
    }
    for name, count in over.items():
        assert name in KNOWN_OVER, f"{name} takes {count} parameters (at most {MAX_PARAMETERS})"
        assert count <= KNOWN_OVER[name], f"{name} grew to {count} parameters"
    for name in KNOWN_OVER:
        if name.startswith(f"{module_name}."):
            assert name in over, f"{name} is fixed: drop it from KNOWN_OVER"


def test_routes_that_place_or_preview_calls_take_at_most_six_parameters() -> None:
    """The routes that place calls count too, their dependencies included (the call lists'
    filters are not placement)."""
    from services.calls import create_call, preview
    from services.driver_data import call_drivers_elevenlabs, call_drivers_vapi

    for route in (create_call, preview, call_drivers_vapi, call_drivers_elevenlabs):
        assert _count(route) <= MAX_PARAMETERS, route.__name__
