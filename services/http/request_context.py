"""Request ids and trace context: every request gets an id (`X-Request-ID` or new) for the logs,
echoed in the response."""

from __future__ import annotations

import re
import uuid
from typing import Any

from helpers.cloud_logger import request_id_var, trace_var

Scope = dict[str, Any]

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    """Give every request an id (from `X-Request-ID` or new) and echo it in the response."""

    def __init__(self, app: Any, project_id: str = "") -> None:
        self.app = app
        self.project_id = project_id

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        trace_header = headers.get(b"x-cloud-trace-context", b"").decode("latin-1")
        trace_token = trace_var.set(
            f"projects/{self.project_id}/traces/{trace_header.split('/')[0]}"
            if trace_header and self.project_id
            else None
        )

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
            trace_var.reset(trace_token)
