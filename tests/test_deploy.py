"""deploy/ ↔ the code: every environment variable is a setting, secrets come from Secret
Manager, concurrency equals the admission limit, probes and Scheduler targets exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import SecretStr

from config import Settings
from logic.ingest.jobs import SOURCES, entities_of
from logic.ingest.scheduler import default_schedule
from services.http.admission import admitted_requests
from tests.auth_routes import iter_routes

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
APPS = {"main": "main", "ingest": "ingest_app"}
CRON = re.compile(r"^(\S+\s+){4}\S+$")


def _service(app: str) -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / f"{app}.yaml").read_text())


def _container(app: str) -> dict[str, Any]:
    return _service(app)["spec"]["template"]["spec"]["containers"][0]


def _routes(app: str) -> set[tuple[str, str]]:
    module = __import__(APPS[app])
    return {(r.method, r.path) for r in iter_routes(module.app)}


def _jobs() -> list[dict[str, Any]]:
    return yaml.safe_load((DEPLOY / "scheduler.yaml").read_text())["jobs"]


@pytest.mark.parametrize("app", APPS)
def test_every_env_var_is_a_setting_and_secrets_come_from_secret_manager(app):
    env = _container(app)["env"]
    names = [item["name"] for item in env]
    assert len(names) == len(set(names))
    assert set(names) - set(Settings.model_fields) == set()
    for item in env:
        field = Settings.model_fields[item["name"]]
        if field.annotation is SecretStr:
            assert item["valueFrom"]["secretKeyRef"]["key"] == "latest", item["name"]
            assert "value" not in item
        else:
            assert isinstance(item["value"], str), item["name"]
    assert {"SECRET_KEY", "SERVICE_API_KEY", "DB_PASS"} <= set(names)


def _settings_of(app: str) -> Settings:
    literal = {i["name"]: i["value"] for i in _container(app)["env"] if "value" in i}
    return Settings(_env_file=None, **literal, SECRET_KEY="x" * 48)


@pytest.mark.parametrize("app", APPS)
def test_container_concurrency_equals_the_admission_limit(app):
    spec = _service(app)["spec"]["template"]["spec"]
    settings = _settings_of(app)
    assert settings.ENVIRONMENT == "production"
    assert spec["containerConcurrency"] == admitted_requests(settings)


@pytest.mark.parametrize("app", APPS)
def test_probes_sizing_and_cloud_sql(app):
    template = _service(app)["spec"]["template"]
    container = template["spec"]["containers"][0]
    assert container["args"] == [app]
    assert container["ports"][0]["containerPort"] == 8080
    assert container["startupProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert {("GET", "/health/ready"), ("GET", "/health")} <= _routes(app)
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}
    annotations = template["metadata"]["annotations"]
    low = int(annotations["autoscaling.knative.dev/minScale"])
    assert 0 <= low <= int(annotations["autoscaling.knative.dev/maxScale"])
    instance = annotations["run.googleapis.com/cloudsql-instances"]
    assert f"/cloudsql/{instance}" == _settings_of(app).INSTANCE_UNIX_SOCKET
    # Work goes on after responses (webhook processing, background ingest runs).
    assert annotations["run.googleapis.com/cpu-throttling"] == "false"


def test_every_job_has_a_cron_a_time_zone_a_target_and_auth():
    jobs = _jobs()
    assert len({job["name"] for job in jobs}) == len(jobs)
    for job in jobs:
        assert CRON.match(job["schedule"]), job["name"]
        ZoneInfo(job["time_zone"])
        target, auth = job["target"], job["auth"]
        if "function" in target:
            assert auth == {"oidc": True}, job["name"]
        else:
            assert target["service"] in APPS and target["method"] == "POST", job["name"]
            assert auth["api_key_secret"], job["name"]


def test_function_targets_exist_and_carry_a_valid_ingest_body():
    for job in _jobs():
        function = job["target"].get("function")
        if function is None:
            continue
        main = ROOT / "cloud_functions" / function / "main.py"
        source = main.read_text()
        assert f"def {function}(" in source, job["name"]
        if function == "scheduled_ingest":
            body = job["target"]["body"]
            assert body["source"] in SOURCES
            assert body["entity"] in entities_of(body["source"]), job["name"]


def test_service_targets_are_routes():
    for job in _jobs():
        target = job["target"]
        if "service" in target:
            assert (target["method"], target["path"]) in _routes(target["service"]), job["name"]


def _cron(every_seconds: float) -> str:
    minutes = int(every_seconds // 60)
    if minutes == 60:
        return "0 * * * *"
    return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"


# Functions whose job the local scheduler runs too, by its name there; morning_report and
# bigquery_export are cloud-only jobs.
LOCAL_NAME_OF_FUNCTION = {
    "evaluate_alerts": "alerts/evaluate",
    "reconcile_calls": "calls/reconcile",
    "campaigns_tick": "campaigns/tick",
}


def test_cloud_scheduler_runs_what_the_local_scheduler_runs():
    deployed = {}
    for job in _jobs():
        target = job["target"]
        if target.get("function") == "scheduled_ingest":
            body = target["body"]
            deployed[f"{body['source']}/{body['entity']}"] = job["schedule"]
        elif target.get("function") in LOCAL_NAME_OF_FUNCTION:
            deployed[LOCAL_NAME_OF_FUNCTION[target["function"]]] = job["schedule"]
        elif target.get("path") in ("/reports/tick", "/messages/tick", "/customer-notices/run"):
            deployed[target["path"].lstrip("/")] = job["schedule"]
    assert deployed == {call.name: _cron(call.every_seconds) for call in default_schedule()}
