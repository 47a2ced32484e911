"""PROCESS_TUNING: a started app tunes its interpreter only when the setting says so."""

import pytest
from fastapi.testclient import TestClient

from config import get_settings
from services.http import app_factory


@pytest.mark.parametrize("enabled", [True, False])
def test_the_app_tunes_the_process_only_when_asked(monkeypatch, session, enabled):
    calls: list[bool] = []
    monkeypatch.setattr(app_factory, "tune_serving_process", lambda: calls.append(True))
    settings = get_settings().model_copy(update={"PROCESS_TUNING": enabled})
    app = app_factory.build_app(title="tuning probe", routers=[], settings=settings)

    with TestClient(app):  # runs the lifespan
        pass

    assert calls == ([True] if enabled else [])


def test_the_test_suite_runs_untuned():
    assert get_settings().PROCESS_TUNING is False
