"""A worker that drains the alert outbox and is killed (SIGKILL) the moment Slack has accepted
its first post, before the outbox can record it; run by tests/logic/test_outbox.py."""

from __future__ import annotations

import os
import signal
from typing import Any

from config import get_settings
from logic.alerts import outbox
from utils.slack_client import build_slack_client


class KilledAfterAcceptance:
    """A Slack client whose process dies right after a post comes back accepted."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def post_message(self, *args: Any, **kwargs: Any) -> Any:
        self.inner.post_message(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    outbox.drain(KilledAfterAcceptance(build_slack_client(get_settings())))
