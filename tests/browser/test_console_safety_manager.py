"""The safety manager's walk in Chromium with that role (not an admin): the campaign form with
the HOS-violation audience previewed, a driver's scorecard page and the morning report, each
shown without a permission notice."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ARTIFACTS, PASSWORD, log_in

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture
def safety_manager(console_stack) -> str:
    from db.database import session_scope
    from tests.factories_auth import make_user

    with session_scope() as session:
        make_user(session, username="console-safety", password=PASSWORD, roles=["safety_manager"])
    return "console-safety"


def test_a_safety_manager_reaches_campaigns_scorecards_and_the_morning_report(
    page, console_stack, safety_manager
):
    log_in(page, safety_manager)
    page.get_by_role("link", name="Campaigns").click()
    form = page.locator("#campaign-form")
    form.wait_for()
    assert form.get_by_label("Violations in the last (days)").is_visible()
    page.locator("#k-count").wait_for()  # the HOS-violation audience, previewed
    assert "driver" in page.locator("#k-count").inner_text()
    assert form.get_by_role("button", name="Create campaign").is_enabled()
    for width in (1400, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(ARTIFACTS / f"safety-campaigns-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 900})

    page.goto(f"/console/#driver/{console_stack.driver_id}")
    page.locator("#view[data-view='driver'][data-ready]").wait_for()
    assert "Scorecard" in page.locator("#view").inner_text()
    page.get_by_role("link", name="Morning report").click()
    page.locator("#report article, #report .notice").first.wait_for()
    build = page.get_by_role("button", name="Build it for")
    if build.count():  # reports:generate is the safety manager's
        build.click()
    page.locator("#report article").wait_for(timeout=20_000)
    assert page.locator("#view .notice", has_text="permission").count() == 0
    for width in (1400, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(ARTIFACTS / f"safety-morning-{width}.png"), full_page=True)
