"""Campaigns API: preview, create (audience resolved into targets), lifecycle (audited), detail
with progress, targets with filters, permissions, the service-key tick, and the alert ladder in
`GET /alerts/{id}`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from config import Settings, get_settings
from helpers.time_utils import utc_now
from models.alert_ladder import AlertLadderStep
from models.audit_log import AuditLog
from models.call import CallOutcome, CallStatus
from models.campaign import CallCampaign, CampaignTarget, TargetState
from services.vendor_deps import current_settings
from tests.factories import make_driver, make_violation
from tests.factories_calls import make_call
from tests.logic.campaigns.support import make_alert

API_KEY = {"X-API-Key": "test-service-api-key"}


@pytest.fixture
def sandbox_settings(main_app, sandbox_clean):
    settings = Settings(**{**sandbox_clean.settings_env(), "ENVIRONMENT": "test"})
    main_app.dependency_overrides[current_settings] = lambda: settings
    yield settings
    main_app.dependency_overrides.pop(get_settings, None)


def hos_drivers(session, n: int, **kwargs):
    drivers = [make_driver(session, **kwargs) for _ in range(n)]
    for driver in drivers:
        make_violation(session, driver=driver, started_at=utc_now() - timedelta(days=2))
    return drivers


def create(client, headers, audience, **extra):
    body = {"name": "HOS follow-up", "purpose": "hos_check", "audience": audience, **extra}
    return client.post("/campaigns", json=body, headers=headers)


def test_preview_then_create_resolves_the_audience_into_targets(client, session, auth_headers):
    drivers = hos_drivers(session, 3)
    make_violation(session, driver=make_driver(session), started_at=utc_now() - timedelta(days=9))
    headers = auth_headers("safety_manager")
    audience = {"kind": "hos_violations", "days": 7}

    preview = client.post(
        "/campaigns/preview", json={"audience": audience, "limit": 2}, headers=headers
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["count"] == 3
    assert [d["driver_id"] for d in preview.json()["drivers"]] == sorted(d.id for d in drivers)[:2]
    assert session.scalars(select(CampaignTarget)).all() == []

    created = create(client, headers, audience, max_concurrency=2)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "draft" and body["target_count"] == 3
    assert body["progress"]["by_state"]["pending"] == 3
    assert body["progress"]["waiting"] == {"campaign_draft": 3}
    assert body["targets_finished"] == 0
    assert body["retry_no_answer_minutes"] == 30 and body["retry_voicemail_minutes"] == 120
    assert body["audience"] == audience
    audit = session.scalars(select(AuditLog).where(AuditLog.action == "campaign.create")).one()
    assert audit.details["targets"] == 3 and audit.resource_id == str(body["id"])


def test_create_refuses_an_empty_audience_and_bad_windows(client, session, auth_headers):
    headers = auth_headers("safety_manager")
    empty = create(client, headers, {"kind": "late_trips", "minutes": 30})
    assert empty.status_code == 422 and "matches no drivers" in empty.json()["detail"]
    driver = make_driver(session)
    session.commit()
    bad = create(
        client,
        headers,
        {"kind": "drivers", "driver_ids": [driver.id]},
        window_start="25:00",
        window_end="08:00",
    )
    assert bad.status_code == 422
    unknown = create(client, headers, {"kind": "drivers", "driver_ids": [driver.id, 987654]})
    assert unknown.status_code == 422 and "987654" in unknown.json()["detail"]


def test_lifecycle_is_audited_and_guarded(client, session, auth_headers):
    hos_drivers(session, 2)
    headers = auth_headers("safety_manager")
    campaign_id = create(client, headers, {"kind": "hos_violations", "days": 7}).json()["id"]

    def act(action: str):
        return client.post(f"/campaigns/{campaign_id}/{action}", headers=headers)

    assert act("resume").status_code == 409
    assert act("start").json()["status"] == "running"
    assert act("start").status_code == 409
    assert act("pause").json()["status"] == "paused"
    assert act("resume").json()["status"] == "running"
    canceled = act("cancel").json()
    assert canceled["status"] == "canceled"
    assert canceled["progress"]["by_state"]["skipped"] == 2
    assert act("cancel").status_code == 409
    actions = session.scalars(
        select(AuditLog.action)
        .where(AuditLog.resource_type == "campaign")
        .where(AuditLog.resource_id == str(campaign_id))
        .order_by(AuditLog.id)
    ).all()
    assert actions == [
        "campaign.create",
        "campaign.start",
        "campaign.pause",
        "campaign.resume",
        "campaign.cancel",
    ]


def test_list_detail_and_targets_with_filters(client, session, auth_headers):
    drivers = hos_drivers(session, 3)
    headers = auth_headers("safety_manager")
    first = create(client, headers, {"kind": "hos_violations", "days": 7}).json()["id"]
    second = create(client, headers, {"kind": "drivers", "driver_ids": [drivers[0].id]}).json()
    client.post(f"/campaigns/{second['id']}/start", headers=headers)
    target = session.scalars(
        select(CampaignTarget).where(
            CampaignTarget.campaign_id == first, CampaignTarget.driver_id == drivers[1].id
        )
    ).one()
    target.state, target.last_outcome = TargetState.DONE, CallOutcome.COMPLETED
    session.commit()

    listed = client.get("/campaigns", params={"status": "running"}, headers=headers).json()
    assert [c["id"] for c in listed["items"]] == [second["id"]] and listed["total"] == 1
    assert client.get("/campaigns", params={"limit": 1}, headers=headers).json()["total"] == 2

    detail = client.get(f"/campaigns/{first}", headers=headers).json()
    assert detail["progress"]["by_state"] == {
        "pending": 2,
        "dialing": 0,
        "in_call": 0,
        "done": 1,
        "failed": 0,
        "skipped": 0,
    }
    assert detail["progress"]["by_outcome"] == {"completed": 1}
    assert detail["progress"]["percent_finished"] == pytest.approx(33.3)
    assert detail["targets_finished"] == 1
    # More calls than targets (retries) never over-fill the bar: it counts finished targets.
    session.get(CallCampaign, first).calls_placed = 6
    session.commit()
    everything = client.get("/campaigns", headers=headers).json()["items"]
    [row] = [c for c in everything if c["id"] == first]
    assert row["targets_finished"] == 1 and row["target_count"] == 3

    done = client.get(
        f"/campaigns/{first}/targets", params={"state": "done"}, headers=headers
    ).json()
    assert [t["driver_id"] for t in done["items"]] == [drivers[1].id]
    assert done["items"][0]["driver_name"] == drivers[1].full_name
    by_outcome = client.get(
        f"/campaigns/{first}/targets", params={"outcome": "completed"}, headers=headers
    ).json()
    assert by_outcome["total"] == 1
    by_driver = client.get(
        f"/campaigns/{first}/targets", params={"driver_id": drivers[2].id}, headers=headers
    ).json()
    assert [t["state"] for t in by_driver["items"]] == ["pending"]
    assert client.get("/campaigns/999999", headers=headers).status_code == 404


def test_permissions(client, session, auth_headers):
    hos_drivers(session, 1)
    audience = {"kind": "hos_violations", "days": 7}
    assert client.get("/campaigns").status_code == 401
    assert client.get("/campaigns", headers=auth_headers("viewer")).status_code == 403
    dispatcher = auth_headers("dispatcher")
    assert client.get("/campaigns", headers=dispatcher).status_code == 200
    assert create(client, dispatcher, audience).status_code == 403
    assert client.post("/campaigns/tick", headers=dispatcher).status_code == 403


def test_tick_with_the_service_key_moves_targets_on(
    client, session, auth_headers, sandbox_settings
):
    drivers = hos_drivers(session, 2)
    drivers[1].do_not_call = True
    headers = auth_headers("safety_manager")
    campaign_id = create(client, headers, {"kind": "hos_violations", "days": 7}).json()["id"]
    client.post(f"/campaigns/{campaign_id}/start", headers=headers)
    target = session.scalars(
        select(CampaignTarget).where(CampaignTarget.driver_id == drivers[0].id)
    ).one()
    call = make_call(
        session,
        driver_id=drivers[0].id,
        status=CallStatus.ENDED,
        outcome=CallOutcome.COMPLETED,
        ended_at=utc_now(),
        campaign_target_id=target.id,
    )
    target.state, target.attempts, target.last_call_id = TargetState.IN_CALL, 1, call.id
    session.commit()

    assert client.post("/campaigns/tick").status_code == 401
    assert client.post("/campaigns/tick", headers={"X-API-Key": "wrong"}).status_code == 401
    response = client.post("/campaigns/tick", headers=API_KEY)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["advanced"] == {"done": 1} and body["skipped"] == {"do-not-call": 1}
    assert body["completed"] == [campaign_id] and body["ladder"]["due"] == 0
    detail = client.get(f"/campaigns/{campaign_id}", headers=headers).json()
    assert detail["status"] == "completed"
    assert detail["progress"]["by_state"]["done"] == 1
    assert detail["progress"]["by_state"]["skipped"] == 1


def test_alert_detail_shows_the_ladder_steps_with_reasons(client, session, auth_headers):
    alert = make_alert(session, driver=make_driver(session))
    session.add(
        AlertLadderStep(
            alert_id=alert.id,
            step_index=0,
            kind="ai_call",
            status="skipped",
            reason="it is 23:10 for driver 1 (America/Chicago)",
        )
    )
    session.commit()
    body = client.get(f"/alerts/{alert.id}", headers=auth_headers("viewer")).json()
    assert body["ladder"] == [
        {
            "step_index": 0,
            "kind": "ai_call",
            "status": "skipped",
            "reason": "it is 23:10 for driver 1 (America/Chicago)",
            "call_id": None,
            "created_at": body["ladder"][0]["created_at"],
            "updated_at": body["ladder"][0]["updated_at"],
        }
    ]


def test_safety_event_audience_takes_samsara_labels_only(client, session, auth_headers):
    """`harshBrake` is not a Samsara behavior label (`braking` is): a 422 naming it, not an
    audience that silently matches nobody."""
    headers = auth_headers("safety_manager")
    since = (utc_now() - timedelta(days=7)).isoformat()
    made_up = client.post(
        "/campaigns/preview",
        json={"audience": {"kind": "safety_events", "types": ["harshBrake"], "since": since}},
        headers=headers,
    )
    assert made_up.status_code == 422, made_up.text
    [error] = made_up.json()["errors"]
    assert "harshBrake" in error["msg"] and "braking" in error["msg"]
    real = client.post(
        "/campaigns/preview",
        json={"audience": {"kind": "safety_events", "types": ["BRAKING"], "since": since}},
        headers=headers,
    )
    assert real.status_code == 200, real.text


def test_the_consoles_columns_sort_campaigns_and_targets(client, session, auth_headers):
    """Campaigns by purpose, start and progress (finished share); a campaign's targets by driver
    name (case-insensitive), last outcome, stored reason and finish time: NULLs last both ways,
    over the whole list; an unknown key is 422 naming the choices."""
    ann = make_driver(session, first_name="ann", last_name="Zed")
    bob = make_driver(session, first_name="Bob", last_name="Able")
    cy = make_driver(session, first_name="cy", last_name="Mid")
    headers = auth_headers("safety_manager")
    specs = [
        ("hos_check", [ann, bob, cy]),
        ("violation_coaching", [ann]),
        ("late_load_check", [bob, cy]),
    ]
    made = []
    for purpose, people in specs:
        response = create(
            client,
            headers,
            {"kind": "drivers", "driver_ids": [d.id for d in people]},
            purpose=purpose,
        )
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
    first, second, third = made
    assert client.post(f"/campaigns/{second}/start", headers=headers).status_code == 200
    now = utc_now()

    def target(campaign_id: int, driver) -> CampaignTarget:
        return session.scalars(
            select(CampaignTarget).where(
                CampaignTarget.campaign_id == campaign_id, CampaignTarget.driver_id == driver.id
            )
        ).one()

    done = target(first, bob)
    done.state, done.last_outcome, done.finished_at = TargetState.DONE, CallOutcome.COMPLETED, now
    failed = target(first, ann)
    failed.state, failed.last_outcome = TargetState.FAILED, CallOutcome.NO_ANSWER
    failed.skip_reason, failed.finished_at = "attempts exhausted", now + timedelta(minutes=1)
    target(first, cy).defer_reason = "driver_driving: at the wheel"
    only = target(second, ann)
    only.state, only.last_outcome, only.finished_at = TargetState.DONE, CallOutcome.COMPLETED, now
    session.commit()

    def campaigns(sort: str) -> list[int]:
        page = client.get("/campaigns", params={"sort": sort, "limit": 200}, headers=headers)
        assert page.status_code == 200, page.text
        return [c["id"] for c in page.json()["items"] if c["id"] in made]

    assert campaigns("progress") == [third, first, second]  # 0 of 2, 2 of 3, 1 of 1
    assert campaigns("-progress") == [second, first, third]
    assert campaigns("purpose") == [first, third, second]
    assert campaigns("started_at") == [second, first, third]  # never started: last, by id
    assert campaigns("-started_at") == [second, third, first]

    def drivers(sort: str) -> list[int]:
        pages = [
            client.get(
                f"/campaigns/{first}/targets",
                params={"sort": sort, "limit": 1, "offset": o},
                headers=headers,
            )
            for o in range(3)
        ]
        assert all(p.status_code == 200 for p in pages), pages[0].text
        return [p.json()["items"][0]["driver_id"] for p in pages]

    assert drivers("driver") == [ann.id, bob.id, cy.id]  # ann Zed, Bob Able, cy Mid
    assert drivers("-driver") == [cy.id, bob.id, ann.id]
    assert drivers("last_outcome") == [bob.id, ann.id, cy.id]
    assert drivers("-last_outcome") == [ann.id, bob.id, cy.id]
    assert drivers("reason") == [ann.id, cy.id, bob.id]
    assert drivers("finished_at") == [bob.id, ann.id, cy.id]
    assert drivers("-finished_at") == [ann.id, bob.id, cy.id]
    for path in ("/campaigns", f"/campaigns/{first}/targets"):
        refused = client.get(path, params={"sort": "driver_name"}, headers=headers)
        assert refused.status_code == 422 and refused.json()["error"] == "validation_error"
        assert "(prefix '-' for descending)" in refused.json()["detail"]
