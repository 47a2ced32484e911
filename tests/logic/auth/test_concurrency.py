"""Real concurrency on PostgreSQL: the login rate limit holds across instances (separate
engines = separate processes' pools) and a refresh token cannot be spent twice in parallel."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import Session

from config import get_settings
from db.database import create_db_engine, session_scope
from helpers.errors import Unauthorized
from helpers.time_utils import utc_now
from logic.auth import service
from logic.auth.audit import ClientInfo
from models.user_session import UserSession
from tests.factories_auth import make_user

pytestmark = pytest.mark.postgres


def _instances(engine, count: int):
    """Separate engines on the test database (this xdist worker's own), like separate processes."""
    url = engine.url.render_as_string(hide_password=False)
    return [create_db_engine(get_settings(), url=url) for _ in range(count)]


def test_rate_limit_is_shared_by_every_instance(committed_db):
    engines = _instances(committed_db, 2)
    now = utc_now()
    limit = 10
    start = threading.Barrier(8)

    def attempt(worker: int) -> list[int]:
        start.wait()
        counts = []
        for _ in range(5):
            with session_scope(engines[worker % 2]) as session:
                counts.append(service.hit_rate_limit(session, "login:ip:192.0.2.1", now, 60))
        return counts

    with ThreadPoolExecutor(8) as pool:
        counts = sorted(c for batch in pool.map(attempt, range(8)) for c in batch)
    for engine in engines:
        engine.dispose()
    # 40 hits from two "instances": every count is handed out exactly once, so exactly
    # `limit` attempts see a count within the limit.
    assert counts == list(range(1, 41))
    assert sum(1 for c in counts if c <= limit) == limit


def test_parallel_refresh_with_one_token_revokes_the_session(committed_db):
    with Session(committed_db) as session:
        user = make_user(session)
        pair = service.issue_session(session, user, ClientInfo())
        session.commit()
    engines = _instances(committed_db, 2)
    start = threading.Barrier(2)

    def spend(worker: int) -> str:
        start.wait()
        # Like the /auth routes' session: a refusal still commits its bookkeeping.
        with session_scope(engines[worker]) as session:
            try:
                service.refresh(session, pair.refresh_token, ClientInfo(ip=f"10.0.0.{worker}"))
            except Unauthorized:
                return "refused"
            return "ok"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(spend, range(2)))
    for engine in engines:
        engine.dispose()
    assert outcomes == ["ok", "refused"]
    with Session(committed_db) as session:
        assert session.get(UserSession, pair.session_id).revoked_reason == "refresh_token_reuse"
