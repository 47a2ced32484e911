"""Every way the apps are started leaves the client address to FORWARDED_HOPS: a caller who
varies `X-Forwarded-For` still meets the per-address login limit on a really launched app, and
no launcher (make run, the container, the README) lets uvicorn believe forwarded headers."""

from __future__ import annotations

import os
import re

import httpx
import pytest
from sqlalchemy import text

from config import Settings
from db.database import create_db_engine
from devstack import app_command
from tests.process_support import ROOT, free_port, process_env, start, stop, wait_until_up

LIMIT = 5


@pytest.fixture
def server_database(engine, tmp_path):
    """Environment for a database of the server's own: a fresh schema or SQLite file."""
    if engine.dialect.name != "postgresql":
        yield {"SQLITE_PATH": str(tmp_path / "launched.db")}
        return
    schema = f"launchers_{os.getpid()}"
    url = engine.url.render_as_string(hide_password=False)
    own = create_db_engine(Settings(_env_file=None, DB_SCHEMA=schema), url=url)
    drop = text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    with own.begin() as conn:
        conn.execute(drop)
    yield {"DATABASE_URL": url, "DB_SCHEMA": schema}
    with own.begin() as conn:
        conn.execute(drop)
    own.dispose()


def _spoofed_logins(base: str, forwarded_for: str) -> list[int]:
    statuses = []
    with httpx.Client(base_url=base, timeout=20) as client:
        for i in range(25):
            response = client.post(
                "/auth/token",
                data={"username": f"nobody{i}", "password": "whatever1"},
                headers={"X-Forwarded-For": forwarded_for.format(i=i)},
            )
            statuses.append(response.status_code)
    return statuses


@pytest.mark.parametrize(
    ("launcher", "hops", "forwarded_for"),
    [
        # make run: uvicorn on 127.0.0.1, which uvicorn's defaults would trust.
        ("make run", "0", "10.0.0.{i}"),
        # The container behind Cloud Run: the caller writes the left, the front end appends.
        ("container", "1", "10.0.0.{i}, 198.51.100.7"),
    ],
)
def test_varying_forwarded_for_still_meets_the_login_limit(
    server_database, launcher, hops, forwarded_for
):
    port = free_port()
    if launcher == "make run":
        command = app_command("main:app", port)
        env = {}
    else:
        command = ["python", "cli.py", "serve", "main"]
        env = {"PORT": str(port), "HOST": "127.0.0.1"}
    env = process_env(
        **server_database, **env, FORWARDED_HOPS=hops, LOGIN_RATE_LIMIT_PER_MINUTE=str(LIMIT)
    )
    server = start(command, env)
    try:
        wait_until_up(server, f"http://127.0.0.1:{port}/health/ready", timeout=90)  # a busy machine
        statuses = _spoofed_logins(f"http://127.0.0.1:{port}", forwarded_for)
    finally:
        output = stop(server)
    # A minute boundary may split the 25 attempts, never into windows of at most LIMIT each.
    assert set(statuses) <= {401, 429}, output
    assert 429 in statuses, statuses
    assert statuses.count(401) <= 2 * LIMIT, statuses


UVICORN_LINE = re.compile(r"\buvicorn\b.*\b(main|ingest_app):app\b")


def _launcher_texts() -> dict[str, str]:
    texts = {name: (ROOT / name).read_text() for name in ("README.md", "Makefile", "Dockerfile")}
    for folder in ("deploy", "docs"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in (".md", ".yaml", ".yml", ".sh"):
                texts[str(path.relative_to(ROOT))] = path.read_text()
    return texts


def test_every_uvicorn_launch_line_refuses_proxy_headers():
    lines = [
        (name, line)
        for name, content in _launcher_texts().items()
        for line in content.splitlines()
        if UVICORN_LINE.search(line)
    ]
    assert lines and all("--no-proxy-headers" in line for _, line in lines), lines
    assert "--no-proxy-headers" in app_command("main:app", 8000)
    for name, content in _launcher_texts().items():
        assert "--forwarded-allow-ips" not in content, name
        assert "--proxy-headers" not in content.replace("--no-proxy-headers", ""), name


def test_the_container_command_turns_uvicorn_proxy_headers_off():
    source = (ROOT / "cli.py").read_text()
    serve = source[source.index('@app.command("serve")') :]
    serve = serve[: serve.index("@app.command", 1)]
    assert "proxy_headers=False" in serve
