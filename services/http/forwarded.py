"""The client's address behind a known number of proxies, from `X-Forwarded-For`.

Each proxy appends the address it saw, so only the last `hops` entries were written by our own
infrastructure; anything to their left is whatever the caller sent. uvicorn's proxy support can
only trust proxies by address, and with "trust all" (the only choice on Cloud Run, whose front
end has no fixed address) it takes the leftmost entry — which lets a caller pick its own address
and walk past the per-address login limit. This middleware takes the entry `hops` from the right
and the matching `X-Forwarded-Proto`, and leaves the headers in place (`/metrics` refuses a
relayed request its network rule would otherwise let in).
"""

from __future__ import annotations

import ipaddress
from typing import Any


def _entries(headers: list[tuple[bytes, bytes]], name: bytes) -> list[str]:
    values = [value.decode("latin-1") for key, value in headers if key.lower() == name]
    return [part.strip() for part in ",".join(values).split(",") if part.strip()]


class ForwardedClientMiddleware:
    """Set `scope["client"]` (and the scheme) from the last `hops` proxy entries."""

    def __init__(self, app: Any, hops: int) -> None:
        self.app = app
        self.hops = hops

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = scope.get("headers") or []
            forwarded = _entries(headers, b"x-forwarded-for")
            if len(forwarded) >= self.hops:
                try:
                    client = str(ipaddress.ip_address(forwarded[-self.hops]))
                except ValueError:
                    client = None  # not an address: keep the peer
                if client is not None:
                    scope["client"] = (client, 0)
                    protos = _entries(headers, b"x-forwarded-proto")
                    if len(protos) >= self.hops and protos[-self.hops] in ("http", "https"):
                        scope["scheme"] = protos[-self.hops]
        await self.app(scope, receive, send)
