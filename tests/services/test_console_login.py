"""The console's login sentence for each refusal the API gives, run in Node on the real
`services/console/api.js` against the real `/auth/token` answers."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from models.user import User
from tests.factories_auth import DEFAULT_PASSWORD, make_user

API_JS = Path(__file__).resolve().parents[2] / "services" / "console" / "api.js"

# api.js is an ES module without a package.json saying so: import it from a data: URL.
SCRIPT = """
const source = require("fs").readFileSync(process.argv[1], "utf8");
const answers = JSON.parse(process.argv[2]);
import("data:text/javascript," + encodeURIComponent(source)).then(({ ApiError, loginRefusal }) => {
  const said = answers.map(([status, body]) =>
    loginRefusal(new ApiError(status, body.error, body.detail, "/auth/token", body)));
  process.stdout.write(JSON.stringify(said));
});
"""


def _console_says(answers: list[tuple[int, dict]]) -> list[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node binary to run the console's JavaScript")
    result = subprocess.run(
        [node, "-e", SCRIPT, str(API_JS), json.dumps(answers)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(result.stdout)


def test_a_locked_account_is_told_how_long_only_with_the_right_password(client, session):
    user = make_user(session, username="locked-console")
    for _ in range(5):
        client.post("/auth/token", data={"username": "locked-console", "password": "nope1234"})
    session.expire_all()
    assert session.get(User, user.id).locked_until is not None
    right = client.post(
        "/auth/token", data={"username": "locked-console", "password": DEFAULT_PASSWORD}
    )
    wrong = client.post("/auth/token", data={"username": "locked-console", "password": "nope1234"})
    answers = [(r.status_code, r.json()) for r in (right, wrong)]
    assert _console_says(answers) == [
        "Account locked — try again in 1 min.",
        "Wrong username or password.",
    ]


def test_a_long_lock_is_shown_in_whole_minutes():
    body = {"error": "account_locked", "detail": "locked", "locked_seconds": 1801}
    assert _console_says([(401, body)]) == ["Account locked — try again in 31 min."]
