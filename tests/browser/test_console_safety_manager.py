"""The safety manager's whole job in Chromium, with that role (not an admin): a campaign over
drivers with HOS violations created with its audience previewed, started and watched to its end
with each driver's outcome, one called driver's scorecard opened, and this morning's report
read — never a JSON dump nor a permission notice; screenshots at 1400 and 1024 px."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.browser.conftest import ARTIFACTS, PASSWORD, log_in

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

# A JSON object or array as text ({"…" or ["…"): what a dumped API body looks like on a page.
JSON_DUMP = re.compile(r'[{\[]\s*"')


@pytest.fixture
def safety_manager(console_stack) -> str:
    from db.database import session_scope
    from tests.factories_auth import make_user

    with session_scope() as session:
        make_user(session, username="console-safety", password=PASSWORD, roles=["safety_manager"])
    return "console-safety"


@pytest.fixture
def violators(console_stack, safety_manager) -> list[dict]:
    """The drivers with an HOS violation in the last day: the demo fleet's own (at a dock or
    reaching one: sandbox/simulator.py) and two more on duty now, each given a violation two
    hours ago, so the campaign has several to call.

    All can be called now (the HOS agent is hands-free, and the fleet's violators are not
    resting) and their sandbox numbers answer (a last digit of 9, 8 or 7 is no answer, busy or
    voicemail, which retry for minutes).
    """
    from db.database import session_scope
    from models.driver import Driver
    from tests.factories import make_violation

    headers = console_stack.headers(safety_manager)
    audience = {"audience": {"kind": "hos_violations", "days": 1}, "limit": 50}
    preview = httpx.post(f"{console_stack.url}/campaigns/preview", json=audience, headers=headers)
    own = {d["driver_id"] for d in preview.raise_for_status().json()["drivers"]}
    assert own, "the demo fleet has no driver with an HOS violation in the last day"
    clocks = httpx.get(f"{console_stack.url}/hos/clocks?limit=200", headers=headers).json()
    on_duty = {
        c["driver_id"]
        for c in clocks["items"]
        if c["duty_status"] not in ("off_duty", "sleeper_berth")
    }
    drivers = httpx.get(f"{console_stack.url}/drivers?limit=200", headers=headers).json()
    answering = [
        d
        for d in drivers["items"]
        if d["phone"] and d["phone"][-1] not in "789" and not d["do_not_call"]
    ]
    chosen = [d for d in answering if d["id"] in on_duty and d["id"] not in own][:2]
    assert len(chosen) == 2, "the sandbox fleet has too few answering drivers on duty"
    with session_scope() as session:
        for d in chosen:
            make_violation(
                session,
                driver=session.get(Driver, d["id"]),
                started_at=datetime.now(UTC) - timedelta(hours=2),
            )
    return [d for d in answering if d["id"] in own] + chosen


def _api(stack, headers: dict[str, str], path: str) -> list[dict]:
    """The items of a list the API returns (up to 200), in its order."""
    sep = "&" if "?" in path else "?"
    return httpx.get(f"{stack.url}{path}{sep}limit=200", headers=headers).json()["items"]


def _driver_day_of_last_call(stack, headers: dict[str, str], driver: dict) -> str:
    """The driver's local day (ISO) when their latest call was placed."""
    from config import get_settings

    [call, *_] = _api(stack, headers, f"/calls?driver_id={driver['id']}")
    zone = ZoneInfo(driver["timezone"] or get_settings().REPORT_DEFAULT_TIMEZONE)
    return datetime.fromisoformat(call["created_at"]).astimezone(zone).date().isoformat()


def _read(page, name: str) -> str:
    """The view's text, checked (no JSON dump, no permission notice) and shot at both widths."""
    text = page.locator("#view").inner_text()
    assert not JSON_DUMP.search(text), f"{name}: a JSON dump on the page"
    assert page.locator("#view .notice", has_text="permission").count() == 0, name
    for width in (1400, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(ARTIFACTS / f"safety-{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 900})
    return text


def test_a_safety_manager_runs_a_campaign_to_its_end_then_reads_scorecard_and_report(
    page, console_stack, safety_manager, violators
):
    names = [d["full_name"] for d in violators]
    log_in(page, safety_manager)

    # The campaign over drivers with HOS violations, its audience previewed before it exists.
    page.get_by_role("link", name="Campaigns").click()
    form = page.locator("#campaign-form")
    form.wait_for()
    assert form.get_by_label("Audience").input_value() == "hos_violations"
    page.locator("#k-count").wait_for()  # the last 7 days: the demo fleet's violators too
    days = form.get_by_label("Violations in the last (days)")
    days.fill("1")
    days.press("Tab")  # a changed audience is previewed again
    preview = page.locator("#k-preview")
    preview.locator("#k-count", has_text=f"{len(names)} drivers").wait_for()
    for name in names:
        preview.get_by_text(name).wait_for()
    form.get_by_label("Purpose").select_option("hos_check")
    form.get_by_label("Name").fill("HOS violations follow-up")
    form.get_by_label("Calls from (driver's time)").fill("00:00")
    form.get_by_label("until").fill("00:00")
    _read(page, "campaigns")
    form.get_by_role("button", name="Create campaign").click()
    panel = page.locator("#campaign-detail")
    panel.get_by_role("heading", name="HOS violations follow-up").wait_for()
    panel.get_by_role("button", name="Start").click()
    panel.locator(".status-running").wait_for()

    # Watched to its end: the scheduler's tick (every minute in `make run`) is driven through
    # the API, the sandbox answers the calls and posts their webhooks; the panel refreshes.
    headers = console_stack.headers(safety_manager)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not panel.locator(".status-completed").count():
        httpx.post(f"{console_stack.url}/campaigns/tick", headers=headers).raise_for_status()
        time.sleep(1)
    panel.locator(".status-completed").wait_for(timeout=10_000)
    assert f"{len(names)} of {len(names)} drivers finished" in panel.inner_text()
    # At 1400 px every target column is in view: the table does not scroll sideways.
    targets = page.locator("#campaign-targets")
    assert targets.evaluate("box => box.scrollWidth <= box.clientWidth")
    rows = page.locator("#campaign-targets tbody tr")
    assert rows.count() == len(names)
    by_driver = {
        cells[0]: cells
        for cells in (
            r.locator("td").all_inner_texts() for r in rows.all()
        )  # Driver, State, Attempts, Last outcome, …
    }
    assert set(by_driver) == set(names)
    for cells in by_driver.values():
        assert cells[1] == "done" and cells[2] == "1" and cells[3] == "completed", cells
    # The targets show the server's order (the panel's refresh keeps it).
    [campaign] = _api(console_stack, headers, "/campaigns")
    for direction, sort in (("ascending", "driver"), ("descending", "-driver")):
        panel.locator("#campaign-targets th button", has_text="Driver").click()
        header = f"#campaign-targets th[aria-sort='{direction}']"
        panel.locator(header, has_text="Driver").wait_for()
        expected = _api(console_stack, headers, f"/campaigns/{campaign['id']}/targets?sort={sort}")
        shown = [t.strip() for t in rows.locator("td:first-child").all_inner_texts()]
        assert shown == [t["driver_name"] for t in expected], direction
    _read(page, "campaign-finished")

    # One called driver's scorecard: today's is built (reports:generate is the safety
    # manager's), and the driver's row opens their page with the series and breakdown.
    called = violators[0]
    page.get_by_role("link", name="Scorecards").click()
    page.locator("#report table, #report .notice").first.wait_for()
    # A report day is the driver's local day (their zone, else the default), which need not be
    # the browser's: the day to read is the one the call was placed on, where the driver is.
    today = _driver_day_of_last_call(console_stack, headers, called)
    page.get_by_label("Day (local)").fill(today)
    page.get_by_role("button", name="Show").click()
    page.locator(
        f"#report caption:has-text('{today}'), #report .notice:has-text('{today}')"
    ).wait_for()
    build = page.get_by_role("button", name="Build it for")
    if build.count():
        build.click()
    row = page.locator(f"#report tbody tr[data-key='{called['id']}']")
    row.wait_for(timeout=20_000)
    assert row.locator("td").last.inner_text() == "1"  # the campaign's call, counted
    page.locator("#report th button", has_text="Driver").click()
    page.locator("#report th[aria-sort='ascending']", has_text="Driver").wait_for()
    listed = page.locator("#report tbody tr td:first-child").all_inner_texts()
    expected = _api(console_stack, headers, f"/reports/drivers?date={today}&sort=driver")
    assert listed == [r["driver_name"] for r in expected] and len(listed) > 2
    _read(page, "scorecards")
    row.click()
    page.wait_for_function(f"() => location.hash === '#driver/{called['id']}'")
    page.locator("#view[data-view='driver'][data-ready]").wait_for()
    page.locator("#d-days").wait_for()
    assert page.locator("#d-days tbody tr", has_text=today).count() == 1
    text = _read(page, "driver-scorecard")
    assert called["full_name"] in text and "HOS violations" in text and "Score:" in text

    # This morning's report, built if it is not yet, read as a report.
    page.get_by_role("link", name="Morning report").click()
    page.locator("#report article, #report .notice").first.wait_for()
    build = page.get_by_role("button", name="Build it for")
    if build.count():
        build.click()
    article = page.locator("#report article")
    article.wait_for(timeout=20_000)
    assert "morning report" in article.locator("h3").inner_text()
    assert article.locator("table.kpi-table tbody tr").count() >= 5
    article.locator("img.chart").wait_for()
    _read(page, "morning")
