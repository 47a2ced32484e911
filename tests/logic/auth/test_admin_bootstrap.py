"""Creating admins outside the API: `create_admin`, the idempotent demo admin, and the CLI."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from config import get_settings
from helpers.errors import Conflict, Unprocessable
from logic.auth import service
from logic.auth.admin_bootstrap import create_admin, ensure_demo_admin
from logic.auth.audit import ClientInfo
from models.user import User
from tests.factories_auth import make_user


def test_demo_admin_is_created_once_with_a_generated_password(session):
    settings = get_settings().model_copy(update={"DEMO_ADMIN_USERNAME": "demo-admin"})
    first = ensure_demo_admin(session, settings)
    assert first.created and first.generated_password and len(first.generated_password) >= 16
    assert first.user.is_superuser
    assert User.role_names(session, [first.user.id])[first.user.id] == ["admin"]
    service.login(session, "demo-admin", first.generated_password, ClientInfo(ip="127.0.0.9"))
    second = ensure_demo_admin(session, settings)
    assert (second.created, second.generated_password, second.user.id) == (
        False,
        None,
        first.user.id,
    )


def test_demo_admin_uses_the_configured_password(session):
    from pydantic import SecretStr

    settings = get_settings().model_copy(
        update={
            "DEMO_ADMIN_USERNAME": "configured",
            "DEMO_ADMIN_EMAIL": "configured@example.com",
            "DEMO_ADMIN_PASSWORD": SecretStr("configured password"),
        }
    )
    result = ensure_demo_admin(session, settings)
    assert result.created and result.generated_password is None
    service.login(
        session, "configured@example.com", "configured password", ClientInfo(ip="127.0.0.8")
    )


def test_create_admin_refuses_duplicates_and_short_passwords(session):
    make_user(session, username="taken", email="taken@example.com")
    with pytest.raises(Conflict):
        create_admin(session, username="TAKEN", email="new@example.com", password="long enough")
    with pytest.raises(Unprocessable):
        create_admin(session, username="fresh", email="fresh@example.com", password="short")


def test_cli_unlock_and_reset_password(session):
    from cli import app

    user = make_user(session, username="cli-user")
    user.failed_login_count, user.lockout_count = 5, 1
    session.commit()
    runner = CliRunner()
    unlocked = runner.invoke(app, ["unlock-user", "cli-user@example.com"])
    assert unlocked.exit_code == 0, unlocked.output
    reset = runner.invoke(app, ["reset-password", "cli-user", "--password", "reset by cli 1"])
    assert reset.exit_code == 0, reset.output
    missing = runner.invoke(app, ["unlock-user", "nobody-here"])
    assert missing.exit_code == 1
    session.expire_all()
    user = session.get(User, user.id)
    assert user.failed_login_count == 0
    service.login(session, "cli-user", "reset by cli 1", ClientInfo(ip="127.0.0.7"))
