"""The ops CLI's ingest commands, end to end against the sandbox (in-process, real HTTP)."""

import os

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from config import get_settings
from models.customer import Customer, CustomerContact
from models.driver import Driver
from models.ingest import IngestRun
from models.report import MorningReport, ReportRecipients
from models.trip import Trip
from models.vehicle import Trailer, Vehicle
from sandbox.credentials import ELEVENLABS_AGENT_ID, ELEVENLABS_API_KEY


@pytest.fixture
def isolated_env(monkeypatch):
    """`seed-demo --sandbox-url` rewrites the environment: keep that inside the test."""
    monkeypatch.setattr(os, "environ", dict(os.environ))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_seed_demo_populates_every_entity_from_the_sandbox(session, sandbox_clean, isolated_env):
    from cli import app

    os.environ.update(CALL_CALLBACK_NUMBER="+12015550100", CALL_TRANSFER_NUMBER="+12015550142")
    result = CliRunner().invoke(app, ["seed-demo", "--sandbox-url", sandbox_clean.url])
    assert result.exit_code == 0, result.output
    # The sandbox's ElevenLabs agent got the voicemail and transfer tools (as `make run` shows).
    agent = httpx.get(
        f"{sandbox_clean.url}/elevenlabs/v1/convai/agents/{ELEVENLABS_AGENT_ID}",
        headers={"xi-api-key": ELEVENLABS_API_KEY},
    ).json()
    tools = agent["conversation_config"]["agent"]["prompt"]["built_in_tools"]
    assert "+12015550100" in tools["voicemail_detection"]["params"]["voicemail_message"]
    [transfer] = tools["transfer_to_number"]["params"]["transfers"]
    assert transfer["transfer_destination"]["phone_number"] == "+12015550142"
    assert _count(session, Vehicle) > 0 and _count(session, Trailer) > 0
    assert _count(session, Trip) > 0
    runs = session.scalars(select(IngestRun)).all()
    assert {(r.source, r.status) for r in runs} == {
        ("samsara", "succeeded"),
        ("ditat", "succeeded"),
    }
    # The first run is clean: every truck and driver found its counterpart in the other source.
    assert {r.entity: r.unmatched for r in runs if r.unmatched} == {}
    vehicles = session.scalars(select(Vehicle)).all()
    assert vehicles and all(v.samsara_id and v.ditat_id for v in vehicles)

    # Drivers have their Samsara home terminal (carrierSettings.homeTerminalName), named as
    # the TMS names the trips' terminal, so `?terminal=Memphis` finds drivers and loads alike.
    drivers = session.scalars(select(Driver).where(Driver.status == "active")).all()
    assert drivers and all(d.terminal for d in drivers)
    trip_terminals = set(session.scalars(select(Trip.terminal).distinct()))
    assert {d.terminal for d in drivers} & trip_terminals
    # The first tour finds a morning report in the sandbox Slack without any setup.
    assert "report recipient added: #fleet-reports" in result.output, result.output
    [recipient] = session.scalars(select(ReportRecipients)).all()
    assert recipient.terminal == "" and recipient.slack_channels == ["#fleet-reports"]
    assert recipient.emails
    assert session.scalars(select(MorningReport).where(MorningReport.terminal == "")).one()
    posted = httpx.get(f"{sandbox_clean.url}/_sandbox/slack/messages?channel=fleet-reports")
    [report] = [m for m in posted.json()["messages"] if "morning report" in m["text"]]
    assert "Fleet morning report" in report["text"]
    assert "report recipient added: #fleet-reports" in result.output
    # Each demo customer gets one contact wanting every notice, at the sandbox mailbox's domain.
    contacts = session.scalars(select(CustomerContact)).all()
    assert len(contacts) == _count(session, Customer) > 0
    assert all(c.email.endswith("@example.com") and "eta" in c.notices for c in contacts)

    # A second seed (the next `make run`) neither adds a recipient nor re-sends the report.
    second = CliRunner().invoke(app, ["seed-demo", "--sandbox-url", sandbox_clean.url])
    assert second.exit_code == 0, second.output
    assert "already built" in second.output
    posted = httpx.get(f"{sandbox_clean.url}/_sandbox/slack/messages?channel=fleet-reports")
    assert len([m for m in posted.json()["messages"] if "morning report" in m["text"]]) == 1
    session.expire_all()
    assert len(session.scalars(select(ReportRecipients)).all()) == 1
    assert _count(session, CustomerContact) == len(contacts)

    again = CliRunner().invoke(app, ["ingest", "ditat", "trailers"])
    assert again.exit_code == 0, again.output
    latest = session.scalars(select(IngestRun).order_by(IngestRun.id.desc())).first()
    assert (latest.entity, latest.inserted, latest.trigger) == ("trailers", 0, "cli")


def test_ingest_rejects_unknown_entities(session, isolated_env):
    from cli import app

    result = CliRunner().invoke(app, ["ingest", "samsara", "planets"])
    assert result.exit_code == 1
    assert "unknown samsara entity 'planets'" in result.output
