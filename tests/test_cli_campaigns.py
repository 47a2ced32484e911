"""`cli.py campaigns-tick`: one tick from the command line, its result printed as JSON; and the
local scheduler's cadence for it."""

import json
from datetime import UTC, datetime

from sqlalchemy import select
from typer.testing import CliRunner

from logic.ingest.scheduler import default_schedule
from models.campaign import CampaignTarget, TargetState
from tests.factories import make_driver
from tests.logic.campaigns.support import make_campaign


def test_campaigns_tick_command(session):
    from cli import app

    driver = make_driver(session, phone=None)
    make_campaign(session, drivers=[driver], now=datetime(2026, 1, 5, tzinfo=UTC))
    session.commit()

    result = CliRunner().invoke(app, ["campaigns-tick"])

    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["skipped"] == {"no phone number": 1} and len(body["completed"]) == 1
    session.expire_all()
    assert session.scalars(select(CampaignTarget)).one().state == TargetState.SKIPPED


def test_the_local_scheduler_ticks_campaigns_every_minute():
    (tick,) = [c for c in default_schedule() if c.name == "campaigns/tick"]
    assert (tick.target, tick.path, tick.every_seconds) == ("main", "/campaigns/tick", 60)
