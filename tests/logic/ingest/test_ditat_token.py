"""Ditat OAuth2 tokens are fetched once and shared through the database by every run and
client until they near expiry; a 401 still gets a fresh one; the token never shows in a repr."""

from __future__ import annotations

import logging
import os
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from config import get_settings
from helpers.time_utils import utc_now
from logic.ingest import ditat
from logic.ingest.jobs import run_ingest
from models.vendor_cache import VendorToken
from tests.ingest_support import fleet_fixture  # noqa: F401


@pytest.fixture
def oauth2(fleet, monkeypatch):
    monkeypatch.setitem(os.environ, "DITAT_AUTH_MODE", "oauth2")
    get_settings.cache_clear()
    yield fleet
    get_settings.cache_clear()


def _token_fetches(sandbox) -> int:
    return sum(r["path"].endswith("/connect/token") for r in sandbox.requests("ditat"))


def test_runs_and_clients_share_one_token_until_it_nears_expiry(
    session: Session, oauth2, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    assert run_ingest("ditat", "trucks").status == "succeeded"
    assert run_ingest("ditat", "trailers").status == "succeeded"
    other_instance = ditat.build_client(get_settings())
    assert other_instance.lookup_drivers()
    assert _token_fetches(oauth2) == 1 and other_instance.logins == 0

    stored = session.exec(select(VendorToken)).one()
    assert stored.expires_at > utc_now() + timedelta(minutes=55)
    assert stored.access_token not in repr(stored)
    assert stored.access_token not in caplog.text

    stored.expires_at = utc_now() + timedelta(minutes=4)  # inside the refresh margin
    session.commit()
    assert run_ingest("ditat", "trucks").status == "succeeded"
    assert _token_fetches(oauth2) == 2
    session.refresh(stored)
    assert stored.expires_at > utc_now() + timedelta(minutes=55)


def test_a_refused_stored_token_is_replaced_after_one_401(session: Session, oauth2) -> None:
    assert run_ingest("ditat", "trucks").status == "succeeded"
    first = session.exec(select(VendorToken.access_token)).one()
    oauth2.fault("ditat", "expire_token", count=1)

    assert run_ingest("ditat", "trucks").status == "succeeded"
    assert _token_fetches(oauth2) == 2
    session.expire_all()
    assert session.exec(select(VendorToken.access_token)).one() != first


def test_after_a_401_a_token_another_instance_already_replaced_is_reused(oauth2) -> None:
    first, second = ditat.build_client(get_settings()), ditat.build_client(get_settings())
    assert first.lookup_trucks() and second.lookup_trucks()  # both hold the stored token
    oauth2.fault("ditat", "expire_token", count=1)
    assert first.lookup_trucks()  # refused: fetches and stores a new token
    oauth2.fault("ditat", "expire_token", count=1)
    assert second.lookup_trucks()  # refused too: picks up the new stored token

    assert _token_fetches(oauth2) == 2
    assert (first.logins, second.logins) == (2, 0)
