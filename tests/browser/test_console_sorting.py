"""Sorting in the console is the API's, over every matching row: with the board's page cut to
three trips (the request rewritten test-side), a click on a column header shows the trip that
is first in the whole list, not the first of the three loaded; the alerts and calls lists
likewise."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlmodel import select

from tests.browser.conftest import log_in

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

ACTIVE = "status=dispatched&status=in_transit"


def _small_pages(page, path: str, limit: int) -> None:
    """Every `path` list the page reads is asked for `limit` rows instead of its own page size."""
    pattern = re.compile(rf"/{path}\?")
    page.route(
        pattern,
        lambda route: route.continue_(
            url=re.sub(r"\blimit=\d+", f"limit={limit}", route.request.url)
        ),
    )


def _first(stack, path: str, query: str, sort: str) -> dict:
    body = httpx.get(
        f"{stack.url}/{path}?{query}&sort={sort}&limit=1", headers=stack.headers(stack.admin)
    ).json()
    return body["items"][0]


def test_a_sorted_board_column_shows_the_globally_first_trip(page, console_stack):
    _small_pages(page, "trips", 3)
    log_in(page, console_stack.admin)
    rows = page.locator("#board tbody tr")
    assert rows.count() == 3
    assert "3 of" in page.locator("#board caption").inner_text()
    # The default order is the API's too: the most late trip of all is the first row.
    latest = _first(console_stack, "trips", ACTIVE, "-late_risk_minutes")
    assert rows.first.get_attribute("data-key") == str(latest["id"])
    loaded = set(rows.evaluate_all("rows => rows.map(r => r.dataset.key)"))

    for header, sort, direction in (
        ("Driver", "driver", "ascending"),
        ("Driver", "-driver", "descending"),
        ("Truck", "truck", "ascending"),
        ("GPS", "last_position_at", "ascending"),
    ):
        first = _first(console_stack, "trips", ACTIVE, sort)
        page.locator("#board th button", has_text=header).click()
        page.locator(f"#board th[aria-sort='{direction}']", has_text=header).wait_for()
        page.locator(f"#board tbody tr[data-key='{first['id']}']").first.wait_for()
        assert rows.first.get_attribute("data-key") == str(first["id"]), (header, direction)
        # Focus stays on the header just clicked, in the new table.
        assert page.evaluate("document.activeElement.textContent").startswith(header)
    # At least one of those firsts was not among the three loaded at first: a sort of the
    # loaded page alone could not have shown it.
    firsts = {
        str(_first(console_stack, "trips", ACTIVE, s)["id"])
        for s in ("driver", "-driver", "truck", "last_position_at")
    }
    assert firsts - loaded, (firsts, loaded)


def test_an_alerts_column_sorts_every_alert(page, console_stack):
    from datetime import UTC, datetime

    from db.database import session_scope
    from logic.alerts.candidate import Candidate
    from logic.alerts.filters import ChannelLimit, apply_filters
    from logic.alerts.rules import load_rules
    from models.alert import Alert

    titles = ["Zulu sort check", "Alpha sort check", "Mike sort check"]
    with session_scope() as session:
        apply_filters(
            session,
            [
                Candidate(type="gps_stale", subject=f"sort:{t}", title=t, message="m")
                for t in titles
            ],
            rules=load_rules(session),
            evaluated_types=["gps_stale"],
            now=datetime.now(UTC),
            limit=ChannelLimit(max_posts=100),
        )
    try:
        _small_pages(page, "alerts", 2)
        log_in(page, console_stack.admin)
        page.get_by_role("link", name="Alerts").click()
        rows = page.locator("#alerts[data-ready] tbody tr")
        rows.first.wait_for()
        query = "status=open&status=acknowledged"
        for sort, direction in (("title", "ascending"), ("-title", "descending")):
            first = _first(console_stack, "alerts", query, sort)
            page.locator("#alerts th button", has_text="Alert").click()
            page.locator(f"#alerts th[aria-sort='{direction}']", has_text="Alert").wait_for()
            page.locator(f"#alerts tbody tr[data-key='{first['id']}']").wait_for()
            assert rows.first.get_attribute("data-key") == str(first["id"])
        assert rows.count() == 2
    finally:
        with session_scope() as session:
            for alert in session.exec(select(Alert).where(Alert.title.in_(titles))):
                alert.status = "resolved"  # out of the other tests' open lists


def test_a_calls_column_sorts_every_call(page, console_stack):
    from datetime import UTC, datetime, timedelta

    from db.database import session_scope
    from models.call import Call
    from models.driver import Driver
    from tests.factories import make_driver
    from tests.factories_calls import make_call

    now = datetime.now(UTC)
    with session_scope() as session:
        fleet = session.exec(select(Driver).order_by(Driver.id).limit(2)).all()
        # The first name of all is on the oldest call: a newest-first page of two leaves it out.
        first = make_driver(session, first_name="aaron", last_name="Aaberg")
        made = [
            make_call(session, driver_id=d.id, created_at=now - timedelta(days=days))
            for d, days in ((first, 3), (fleet[0], 2), (fleet[1], 1))
        ]
        ids = [c.id for c in made]
        first_id = first.id
    try:
        _small_pages(page, "calls", 2)
        log_in(page, console_stack.admin)
        page.get_by_role("link", name="Calls").click()
        rows = page.locator("#calls[data-ready] tbody tr")
        rows.first.wait_for()
        assert rows.count() == 2
        loaded = set(rows.evaluate_all("rows => rows.map(r => r.dataset.key)"))
        assert str(ids[0]) not in loaded
        for sort, direction in (("driver", "ascending"), ("-driver", "descending")):
            expected = _first(console_stack, "calls", "since=2000-01-01T00:00:00Z", sort)
            page.locator("#calls th button", has_text="Driver").click()
            page.locator(f"#calls th[aria-sort='{direction}']", has_text="Driver").wait_for()
            page.locator(f"#calls tbody tr[data-key='{expected['id']}']").wait_for()
            assert rows.first.get_attribute("data-key") == str(expected["id"]), sort
        # Ascending, the oldest call (not among the two loaded at first) came first.
        assert (
            _first(console_stack, "calls", "since=2000-01-01T00:00:00Z", "driver")["id"] == ids[0]
        )
    finally:
        with session_scope() as session:
            for call in session.exec(select(Call).where(Call.id.in_(ids))):
                session.delete(call)
            session.flush()
            session.delete(session.get(Driver, first_id))
