"""The 422 contract over the whole main app: every refusal of a request's content is a
`validation_error` with one `errors` entry naming the field — for bad query parameters of every
list route, the hub's own refusals (sort keys), strict dates and times, null in PATCH bodies
and Slack channels."""

from __future__ import annotations

import ast
import secrets
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError
from sqlmodel import select

from helpers.time_utils import utc_now
from logic.alerts.detectors import DETECTORS
from models.alert import DETECTED_TYPES, AlertRule, AlertType
from models.api_fields import ApiDate, ApiDateTime, SlackChannel
from models.contact_plan import ContactPlan
from models.customer import Customer, CustomerContact
from models.report import MorningReport, ReportDelivery
from tests.factories import make_driver, make_trip
from tests.factories_auth import make_role, make_user
from tests.factories_calls import make_agent_profile, make_do_not_call

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)


def _schema(spec: dict, schema: dict) -> dict:
    if "$ref" in schema:
        return _schema(spec, spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
    members = [m for m in schema.get("anyOf", []) if m.get("type") != "null"]
    return _schema(spec, members[0]) if len(members) == 1 else schema


def _bad_value(name: str, schema: dict) -> str | None:
    """A value the parameter must refuse, or None when any text is acceptable."""
    if schema.get("type") == "array":
        return _bad_value(name, schema["items"])
    if "enum" in schema:
        return "zzz-not-a-value"
    if schema.get("format") in ("date", "date-time"):
        return "0"
    return {"integer": "many", "number": "lots", "boolean": "maybe"}.get(schema.get("type", ""))


def _list_routes(spec: dict) -> list[tuple[str, list[dict]]]:
    return [
        (path, [p for p in ops["get"].get("parameters", []) if p["in"] == "query"])
        for path, ops in sorted(spec["paths"].items())
        if "get" in ops and "{" not in path
    ]


def _assert_validation_error(response, loc: list) -> dict:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_error", body
    assert body["errors"] and all({"loc", "msg", "type"} <= set(e) for e in body["errors"])
    named = [e for e in body["errors"] if e["loc"] == loc]
    assert named, (loc, body)
    return named[0]


def test_every_bad_query_parameter_of_every_list_route_is_named(client, main_app, auth_headers):
    admin = auth_headers(superuser=True)
    spec = main_app.openapi()
    checked = 0
    for path, params in _list_routes(spec):
        for param in params:
            bad = _bad_value(param["name"], _schema(spec, param["schema"]))
            if bad is None:
                continue
            response = client.get(path, params={param["name"]: bad}, headers=admin)
            if response.status_code == 503:  # the vendor client is built (and refused) first
                assert response.json()["error"] == "upstream_not_configured", response.text
                continue
            _assert_validation_error(response, ["query", param["name"]])
            checked += 1
    assert checked > 100  # the sweep really covers the app


def test_an_unknown_sort_key_is_a_validation_error_on_every_sortable_list(
    client, main_app, auth_headers
):
    admin = auth_headers(superuser=True)
    spec = main_app.openapi()
    sortable = [
        path
        for path, params in _list_routes(spec)
        if any(p["name"] == "sort" for p in params) and not any(p["required"] for p in params)
    ]
    assert "/drivers" in sortable and len(sortable) > 10
    for path in sortable:
        entry = _assert_validation_error(
            client.get(path, params={"sort": "zzz"}, headers=admin), ["query", "sort"]
        )
        assert entry["input"] == "zzz" and "sort by one of" in entry["msg"], path


def test_a_backwards_range_names_its_end(client, auth_headers):
    admin = auth_headers(superuser=True)
    params = {"scheduled_from": "2026-03-14T00:00:00Z", "scheduled_to": "2026-03-13T00:00:00Z"}
    entry = _assert_validation_error(
        client.get("/trips", params=params, headers=admin), ["query", "scheduled_to"]
    )
    assert "is after end" in entry["msg"]


# --- dates and times -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("0", "date_format"),
        ("20260314", "date_format"),
        ("2026-3-14", "date_format"),
        ("2026-03-14T08:00:00Z", "date_format"),
        ("2026-02-30", "date_format"),
        ("1970-01-01", "date_out_of_range"),
        ("2101-01-01", "date_out_of_range"),
    ],
)
def test_dates_are_yyyy_mm_dd_between_2000_and_2100(client, auth_headers, value, kind):
    headers = auth_headers(superuser=True)
    response = client.get("/reports/drivers", params={"date": value}, headers=headers)
    entry = _assert_validation_error(response, ["query", "date"])
    assert entry["type"] == kind
    assert ("YYYY-MM-DD" if kind == "date_format" else "between 2000-01-01") in entry["msg"]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("0", "datetime_format"),
        ("1700000000", "datetime_format"),
        ("yesterday", "datetime_format"),
        ("2026-03-14T25:00:00Z", "datetime_format"),
        ("1999-12-31T23:59:59Z", "date_out_of_range"),
    ],
)
def test_date_times_are_rfc_3339_between_2000_and_2100(client, auth_headers, value, kind):
    headers = auth_headers(superuser=True)
    response = client.get("/trips", params={"scheduled_from": value}, headers=headers)
    entry = _assert_validation_error(response, ["query", "scheduled_from"])
    assert entry["type"] == kind
    assert "RFC 3339" in entry["msg"] or "between 2000-01-01" in entry["msg"]


def test_well_formed_dates_and_times_are_accepted(client, auth_headers):
    headers = auth_headers(superuser=True)
    for value in ("2026-03-14T08:30:00Z", "2026-03-14T08:30:00.5+02:00", "2026-03-14T08:30"):
        response = client.get("/trips", params={"scheduled_from": value}, headers=headers)
        assert response.status_code == 200, (value, response.text)
    assert client.get("/trips?scheduled_from=2026-03-14", headers=headers).status_code == 200


def test_date_and_time_types_directly():
    day, moment = TypeAdapter(ApiDate), TypeAdapter(ApiDateTime)
    assert day.validate_python("2026-03-14") == date(2026, 3, 14)
    for bad in (0, "0", "2026-03-14T00:00", datetime(2026, 3, 14)):
        with pytest.raises(ValidationError):
            day.validate_python(bad)
    assert moment.validate_python("2026-03-14T08:30:00Z") == datetime(
        2026, 3, 14, 8, 30, tzinfo=UTC
    )
    naive = moment.validate_python("2026-03-14 08:30")
    assert naive.tzinfo is UTC  # naive means UTC, as the API documents
    offset = moment.validate_python("2026-03-14T08:30:00-05:00")
    assert offset.utcoffset() == timedelta(hours=-5)
    assert moment.validate_python(datetime(2026, 3, 14, tzinfo=UTC)).year == 2026
    for bad in (0, 1_700_000_000, "0", "2026-03-14T08:30:00+0500"):
        with pytest.raises(ValidationError):
            moment.validate_python(bad)


def test_morning_report_for_date_0_is_refused_and_nothing_is_sent(client, session, auth_headers):
    """`date=0` was read as 1970-01-01 and that report went to Slack and email."""
    headers = auth_headers(superuser=True)
    response = client.post("/reports/morning/generate?date=0", headers=headers)
    entry = _assert_validation_error(response, ["query", "date"])
    assert "YYYY-MM-DD" in entry["msg"]
    assert session.exec(select(MorningReport)).first() is None
    assert session.exec(select(ReportDelivery)).first() is None


def test_a_do_not_call_end_is_a_real_date_time(client, auth_headers):
    admin = auth_headers(superuser=True)
    body = {"phone_number": "+12015550123", "reason": "asked", "until": 0}
    response = client.post("/do-not-call", json=body, headers=admin)
    entry = _assert_validation_error(response, ["body", "until"])
    assert "RFC 3339" in entry["msg"]


# --- PATCH: optional but not nullable --------------------------------------------------------


def _alert_rule(session) -> AlertRule:
    now = utc_now()
    rule = AlertRule(name="stale", type="gps_stale", created_at=now, updated_at=now)
    session.add(rule)
    session.flush()
    return rule


# One builder per PATCH route: a new PATCH route fails the sweep until it is listed here.
PATCH_TARGETS = {
    "/alert-rules/{rule_id}": _alert_rule,
    "/drivers/{driver_id}": make_driver,
    "/trips/{trip_id}": make_trip,
    "/users/{user_id}": make_user,
    "/admin/roles/{role_id}": lambda session: make_role(session, []),
    "/call-agent-profiles/{profile_id}": make_agent_profile,
    "/do-not-call/{entry_id}": lambda session: make_do_not_call(
        session, driver_id=None, phone_number="+12015550177"
    ),
    "/customers/{customer_id}": lambda session: _customer(session),
    "/customers/{customer_id}/contacts/{contact_id}": lambda session: _contact_path(session),
    "/contact-plans/{plan_id}": lambda session: _contact_plan(session),
}


def _contact_plan(session) -> ContactPlan:
    plan = ContactPlan(name=f"plan {secrets.token_hex(4)}", steps=[{"kind": "sms"}])
    session.add(plan)
    session.flush()
    return plan


def _customer(session) -> Customer:
    customer = Customer(name="Acme Foods", key=f"acme foods {secrets.token_hex(4)}")
    session.add(customer)
    session.flush()
    return customer


def _contact_path(session) -> dict[str, int]:
    """A nested route's path parameters: the contact and its customer."""
    customer = _customer(session)
    contact = CustomerContact(customer_id=customer.id, name="Dana", email="dana@acme.test")
    session.add(contact)
    session.flush()
    return {"customer_id": customer.id, "contact_id": contact.id}


def _patch_url(path: str, built) -> str:
    if isinstance(built, dict):
        return path.format(**built)
    return path.replace(path[path.index("{") :], str(built.id))


def test_null_in_every_patch_body_is_a_422_or_a_real_clear(client, session, main_app, auth_headers):
    """A null for a NOT NULL column was a 500 IntegrityError (`PATCH /alert-rules/{id}`
    `{"enabled": null}`); every field either refuses null by name or stores it."""
    admin = auth_headers(superuser=True)
    spec = main_app.openapi()
    patched = {path for path, ops in spec["paths"].items() if "patch" in ops}
    assert patched == set(PATCH_TARGETS)
    for path, build in PATCH_TARGETS.items():
        body_ref = spec["paths"][path]["patch"]["requestBody"]["content"]["application/json"]
        properties = _schema(spec, body_ref["schema"])["properties"]
        for name, schema in properties.items():
            url = _patch_url(path, build(session))
            response = client.patch(url, json={name: None}, headers=admin)
            nullable = any(m.get("type") == "null" for m in schema.get("anyOf", []))
            if nullable:
                assert response.status_code in (200, 422), (path, name, response.text)
                if response.status_code == 422:  # refused for another rule, never a 500
                    assert response.json()["error"] == "validation_error", response.text
                continue
            entry = _assert_validation_error(response, ["body", name])
            assert entry["type"] == "null_not_allowed", (path, name)
            assert entry["msg"] == f"{name} may be left out but cannot be null"


def test_patching_an_alert_rule_with_null_enabled_changes_nothing(client, session, auth_headers):
    rule = _alert_rule(session)
    admin = auth_headers(superuser=True)
    for field in ("enabled", "severity", "params"):
        response = client.patch(f"/alert-rules/{rule.id}", json={field: None}, headers=admin)
        _assert_validation_error(response, ["body", field])
    session.refresh(rule)
    assert (rule.enabled, rule.severity, rule.params) == (True, "warning", {})
    cleared = client.patch(f"/alert-rules/{rule.id}", json={"channel": None}, headers=admin)
    assert cleared.status_code == 200 and cleared.json()["channel"] is None


# --- dry run -------------------------------------------------------------------------------


def test_only_detected_types_can_be_dry_run(client, session, main_app, auth_headers):
    assert set(DETECTED_TYPES) == set(DETECTORS) == set(AlertType) - {AlertType.CALL_FOLLOW_UP}
    spec = main_app.openapi()
    body = spec["paths"]["/alert-rules/dry-run"]["post"]["requestBody"]["content"]
    dry_run_schema = _schema(spec, body["application/json"]["schema"])
    assert set(_schema(spec, dry_run_schema["properties"]["type"])["enum"]) == set(DETECTORS)

    headers = auth_headers(superuser=True)
    new = {"name": "follow-ups", "type": "call_follow_up"}
    refused = client.post("/alert-rules/dry-run", json=new, headers=headers)
    entry = _assert_validation_error(refused, ["body", "type"])
    assert "call_follow_up" in entry["msg"] and "gps_stale" in entry["msg"]

    now = utc_now()
    stored = AlertRule(name="stored", type="call_follow_up", created_at=now, updated_at=now)
    session.add(stored)
    session.flush()
    response = client.post(f"/alert-rules/{stored.id}/dry-run", headers=headers)
    entry = _assert_validation_error(response, ["path", "rule_id"])
    assert "call_follow_up" in entry["msg"] and entry["input"] == "call_follow_up"
    ok = client.post(
        "/alert-rules/dry-run", json={"name": "g", "type": "gps_stale"}, headers=headers
    )
    assert ok.status_code == 200, ok.text


# --- Slack channels ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "https://hooks.slack.com/services/T0/B0/x",
        "#Fleet Alerts",
        "fleet.alerts",
        "",
        "#",
        "#" + "a" * 80,
        "C0123",
    ],
)
def test_slack_channels_are_names_or_ids(client, auth_headers, bad):
    headers = auth_headers(superuser=True)
    recipients = {"timezone": "America/Chicago", "slack_channels": ["#ops", bad]}
    response = client.put("/reports/recipients", json=recipients, headers=headers)
    entry = _assert_validation_error(response, ["body", "slack_channels", 1])
    assert entry["type"] == "slack_channel" and "#name" in entry["msg"]
    rule = {"name": "r", "type": "gps_stale", "channel": bad}
    refused = client.post("/alert-rules", json=rule, headers=headers)
    _assert_validation_error(refused, ["body", "channel"])
    escalation = {"name": "r", "type": "gps_stale", "escalation_channel": bad}
    _assert_validation_error(
        client.post("/alert-rules", json=escalation, headers=headers),
        ["body", "escalation_channel"],
    )


def test_good_slack_channels_are_stored_with_their_hash(client, auth_headers):
    headers = auth_headers(superuser=True)
    channels = ["#fleet-reports", "ops_dallas", "C0123ABCDEF", "G0123ABCDEF"]
    recipients = {"timezone": "America/Chicago", "slack_channels": channels}
    response = client.put("/reports/recipients", json=recipients, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["slack_channels"] == [
        "#fleet-reports",
        "#ops_dallas",
        "C0123ABCDEF",
        "G0123ABCDEF",
    ]
    assert TypeAdapter(SlackChannel).validate_python("#" + "a" * 79) == "#" + "a" * 79


def test_rules_stored_before_channels_were_checked_still_list(client, session, auth_headers):
    now = utc_now()
    session.add(
        AlertRule(
            name="old", type="gps_stale", channel="not a channel", created_at=now, updated_at=now
        )
    )
    session.flush()
    response = client.get("/alert-rules", headers=auth_headers(superuser=True))
    assert response.status_code == 200
    assert "not a channel" in [r["channel"] for r in response.json()]


def _operations(spec: dict):
    for path, ops in sorted(spec["paths"].items()):
        for method, op in ops.items():
            yield path, method, op


def _date_fields(spec: dict, schema: dict) -> list[tuple[str, str]]:
    properties = _schema(spec, schema).get("properties", {})
    return [
        (name, kind)
        for name, prop in properties.items()
        if (kind := _schema(spec, prop).get("format")) in ("date", "date-time")
    ]


def test_every_date_and_time_input_of_the_app_is_strict(client, main_app, auth_headers):
    """Query parameters and body fields alike, on every route (`date=0` was 1970-01-01)."""
    admin = auth_headers(superuser=True)
    spec = main_app.openapi()
    checked = []
    for path, method, op in _operations(spec):
        url = path.format(**{p["name"]: 1 for p in op.get("parameters", []) if p["in"] == "path"})
        inputs = [
            ("query", p["name"], {"params": {p["name"]: "0"}})
            for p in op.get("parameters", [])
            if p["in"] == "query"
            and _schema(spec, p["schema"]).get("format") in ("date", "date-time")
        ]
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body:
            inputs += [
                ("body", name, {"json": {name: "0"}})
                for name, _ in _date_fields(spec, body["schema"])
            ]
        for where, name, request in inputs:
            response = client.request(method.upper(), url, headers=admin, **request)
            if response.status_code == 503:  # the vendor client is built (and refused) first
                assert response.json()["error"] == "upstream_not_configured", response.text
                continue
            entry = _assert_validation_error(response, [where, name])
            assert entry["type"] in ("date_format", "datetime_format"), (method, path, entry)
            assert "YYYY-MM-DD" in entry["msg"] or "RFC 3339" in entry["msg"]
            checked.append(f"{method.upper()} {path} {where}.{name}")
    assert "POST /reports/morning/generate query.date" in checked
    assert "POST /do-not-call body.until" in checked
    assert "POST /campaigns body.schedule_start_at" in checked


def test_every_refusal_the_hub_raises_names_its_field():
    """`Unprocessable` (and its subclasses' callers) say which field was wrong (`loc`), so the
    `errors` entry of the 422 points at it; placement refusals name the request body."""
    root = Path(__file__).resolve().parents[2]
    unnamed = []
    for folder in ("logic", "services", "models"):
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "id", None) == "Unprocessable"
                    and not any(k.arg == "loc" for k in node.keywords)
                ):
                    unnamed.append(f"{path.relative_to(root)}:{node.lineno}")
    assert unnamed == []
