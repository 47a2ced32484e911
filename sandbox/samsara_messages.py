"""Sandbox imitation of Samsara's legacy in-cab messages (`/v1/fleet/messages`, spec 2021-06).

`POST` takes `{driverIds: [int], text}` and answers `{data: [{driverId, text}]}`; `GET` answers
`{data: [{driverId, text, isRead, sender: {name, type}, sentAtMs}]}`, newest first, for the
`durationMs` (default 24 h) before `endMs` (default now). Errors are the v1 shape: a JSON
string. Drivers read nothing and write nothing by themselves; the controls make them:
`POST /_sandbox/samsara/messages` (a driver's reply) and `POST /_sandbox/samsara/messages/read`.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.samsara import _authorize
from sandbox.state import sandbox_state

router = APIRouter(prefix="/samsara/v1/fleet", tags=["samsara"], dependencies=[Depends(_authorize)])
control_router = APIRouter(prefix="/_sandbox/samsara", tags=["sandbox"])
extra_routers = (control_router,)

DAY_MS = 24 * 3600 * 1000
DISPATCH_NAME = "Fleet Hub"

_lock = threading.Lock()
_messages: list[dict[str, Any]] = []


def reset() -> None:
    with _lock:
        _messages.clear()


def init_state(state: Any) -> None:
    state.on_reset(reset)


def _now_ms(request: Request) -> int:
    return int(sandbox_state(request).clock().timestamp() * 1000)


def _v1_error(status: int, message: str) -> JSONResponse:
    return JSONResponse(message, status_code=status)


def _driver_ids(request: Request) -> set[int]:
    return {
        int(d.samsara_id)
        for d in sandbox_state(request).simulator.drivers
        if d.samsara_id.isdigit()
    }


@router.post("/messages")
async def create_messages(request: Request) -> Any:
    """Send `text` to each of `driverIds` (every id must be a known driver)."""
    try:
        body = await request.json()
    except ValueError:
        return _v1_error(400, "request body is not valid JSON")
    if not isinstance(body, dict):
        return _v1_error(400, "request body must be an object")
    ids, text = body.get("driverIds"), body.get("text")
    if not isinstance(ids, list) or not ids or not isinstance(text, str) or not text:
        return _v1_error(400, "driverIds (a non-empty array) and text are required")
    known = _driver_ids(request)
    unknown = [i for i in ids if not isinstance(i, int | float) or int(i) not in known]
    if unknown:
        return _v1_error(400, f"unknown driver ids: {unknown}")
    now = _now_ms(request)
    with _lock:
        for driver_id in ids:
            _messages.append(
                {
                    "driverId": int(driver_id),
                    "text": text,
                    "isRead": False,
                    "sender": {"name": DISPATCH_NAME, "type": "dispatch"},
                    "sentAtMs": now,
                }
            )
    return {"data": [{"driverId": int(i), "text": text} for i in ids]}


@router.get("/messages")
def list_messages(request: Request, endMs: int | None = None, durationMs: int | None = None) -> Any:
    """Messages sent in the window, newest first."""
    end = endMs if endMs is not None else _now_ms(request)
    duration = durationMs if durationMs is not None else DAY_MS
    if duration < 0:
        return _v1_error(400, "durationMs must not be negative")
    with _lock:
        found = [dict(m) for m in _messages if end - duration <= m["sentAtMs"] <= end]
    found.sort(key=lambda m: m["sentAtMs"], reverse=True)
    return {"data": found}


class DriverReply(BaseModel):
    driverId: int
    text: str = Field(min_length=1)
    name: str = "Driver"


class ReadIn(BaseModel):
    driverId: int


@control_router.post("/messages", status_code=201)
def driver_writes(body: DriverReply, request: Request) -> dict[str, Any]:
    """Make a driver send an in-cab message to dispatch (it shows in `GET /v1/fleet/messages`)."""
    message = {
        "driverId": body.driverId,
        "text": body.text,
        "isRead": True,
        "sender": {"name": body.name, "type": "driver"},
        "sentAtMs": _now_ms(request),
    }
    with _lock:
        _messages.append(message)
    return message


@control_router.post("/messages/read")
def driver_reads(body: ReadIn) -> dict[str, int]:
    """Mark every dispatch message to the driver read."""
    read = 0
    with _lock:
        for message in _messages:
            if message["driverId"] == body.driverId and message["sender"]["type"] == "dispatch":
                read += not message["isRead"]
                message["isRead"] = True
    return {"read": read}
