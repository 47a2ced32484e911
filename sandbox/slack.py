"""Sandbox imitation of the Slack Web API (`/slack/api/chat.postMessage`, `chat.update`, ...).

Like Slack, every error is HTTP 200 with `{"ok": false, "error": ...}` (rate limiting, a 429 with
`Retry-After`, comes from the fault injector). JSON bodies need `Authorization: Bearer xoxb-…`;
form bodies may carry `token`. Posted messages and their updates are kept in memory and readable
at `GET /_sandbox/slack/messages` (cleared with `DELETE`); `POST /_sandbox/slack/press` presses
a message's button, sending the hub the signed interaction Slack would. Like a real workspace,
only existing channels take messages: the hub's default alert channels, `#fleet-reports`,
`#general`, `#dispatch`,
`#ops` and `#ops-<terminal city>` exist (`WORKSPACE_CHANNELS`), `POST /_sandbox/slack/channels`
adds one, and any other name is `channel_not_found`; `archived-*` channels exist but answer
`is_archived`. Names map to stable IDs.

Posts keep their message `metadata` ({event_type, event_payload}); `conversations.history`,
`conversations.replies` (with `include_all_metadata`, `oldest`/`latest`, cursor pages) and
`conversations.list` read them back as Slack does.

Files follow Slack's external upload flow (what slack_sdk's `files_upload_v2` does):
`files.getUploadURLExternal` (filename, length) answers an `upload_url` and a `file_id`; the
bytes are POSTed to that URL (raw or multipart; 200 "OK - <length>"); `files.completeUploadExternal`
(`files` JSON array of {id, title}, optional `channel_id`, `thread_ts`, `initial_comment`)
shares them, which posts a message carrying the files. A file whose bytes never arrived is
`file_not_found` at completion. Shared files are listed at `GET /_sandbox/slack/files` and
their bytes served at `GET /_sandbox/slack/files/{id}/content`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import threading
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from sandbox.credentials import SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET
from sandbox.lanes import CITIES

router = APIRouter(prefix="/slack", tags=["slack"])
control_router = APIRouter(prefix="/_sandbox/slack", tags=["sandbox"])
extra_routers = (control_router,)

BOT_ID = "B0SANDBOX01"
BOT_USER_ID = "U0SANDBOX01"
TEAM_ID = "T0SANDBOX01"
MAX_TEXT = 40_000
MAX_BLOCKS = 50


def _slug(name: str) -> str:
    return "-".join(name.lower().replace(".", "").split())


# The hub's SLACK_ALERTS_CHANNEL and SLACK_ESCALATION_CHANNEL defaults, a carrier's usual
# channels, and one ops channel per terminal city of the simulated fleet (`#ops-memphis`).
WORKSPACE_CHANNELS = (
    "general",
    "fleet-alerts",
    "fleet-escalations",
    "fleet-reports",
    "dispatch",
    "ops",
    *(f"ops-{_slug(city.name)}" for city in CITIES),
)


def _channel_id(name: str) -> str:
    return "C" + hashlib.sha1(name.encode()).hexdigest()[:10].upper()  # noqa: S324


class SlackStore:
    """Channels and messages, thread-safe (the server thread writes, tests read over HTTP)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self.channels: dict[str, str] = {}  # id -> name
        self.messages: list[dict[str, Any]] = []
        self.files: dict[str, dict[str, Any]] = {}  # file id -> metadata and bytes
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.channels = {_channel_id(name): name for name in WORKSPACE_CHANNELS}
            self.messages.clear()
            self.files.clear()

    def export(self) -> dict[str, Any]:
        """Everything the workspace holds, JSON-ready (file bytes as base64), for persistence."""
        with self._lock:
            counter = next(self._counter)
            self._counter = itertools.count(counter)
            files = {fid: {**f, "content": _b64(f["content"])} for fid, f in self.files.items()}
            return json.loads(
                json.dumps(
                    {
                        "counter": counter,
                        "channels": self.channels,
                        "messages": self.messages,
                        "files": files,
                    }
                )
            )

    def restore(self, data: dict[str, Any]) -> None:
        with self._lock:
            self._counter = itertools.count(int(data.get("counter", 1)))
            self.channels.update(data.get("channels", {}))
            self.messages[:] = data.get("messages", [])
            self.files.clear()
            for fid, f in data.get("files", {}).items():
                self.files[fid] = {**f, "content": _unb64(f.get("content"))}

    def new_file(self, filename: str, length: int, alt_txt: str | None) -> str:
        with self._lock:
            file_id = f"F{next(self._counter):010d}"
            self.files[file_id] = {
                "id": file_id,
                "name": filename,
                "length": length,
                "alt_txt": alt_txt,
                "content": None,
                "title": None,
                "shared": False,
                "channels": [],
            }
            return file_id

    def file(self, file_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self.files.get(file_id)

    def create_channel(self, name: str) -> str:
        channel_id = _channel_id(name)
        with self._lock:
            self.channels[channel_id] = name
        return channel_id

    def resolve_channel(self, channel: str, *, allow_name: bool = True) -> tuple[str, str] | str:
        """(id, name) for a channel ID or name, or a Slack error code."""
        value = channel.strip()
        with self._lock:
            if value in self.channels:
                return value, self.channels[value]
        if not allow_name:
            return "channel_not_found"
        name = value.removeprefix("#").lower()
        if name.startswith("archived-"):
            return "is_archived"
        channel_id = _channel_id(name)
        with self._lock:
            if self.channels.get(channel_id) == name:
                return channel_id, name
        return "channel_not_found"

    def channel_list(self) -> list[tuple[str, str]]:
        with self._lock:
            return sorted(self.channels.items())

    def next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._counter):06d}"

    def add(self, message: dict[str, Any]) -> None:
        with self._lock:
            self.messages.append(message)

    def find(self, channel_id: str, ts: str) -> dict[str, Any] | None:
        with self._lock:
            return next(
                (m for m in self.messages if m["channel"] == channel_id and m["ts"] == ts), None
            )

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return json.loads(json.dumps(self.messages))

    def shared_files(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {k: v for k, v in f.items() if k != "content"} | {"size": len(f["content"] or b"")}
                for f in self.files.values()
                if f["shared"]
            ]


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


store = SlackStore()


def init_state(state: Any) -> None:
    state.on_reset(store.reset)


def _fail(error: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"ok": False, "error": error, **extra})


async def _read_args(request: Request) -> tuple[dict[str, Any], str | None]:
    """The method's arguments and the token, from a JSON or form body (plus the query string)."""
    args: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    raw = await request.body()
    if "application/json" in content_type and raw:
        try:
            body = json.loads(raw)
        except ValueError:
            return {"__invalid__": True}, None
        if isinstance(body, dict):
            args.update(body)
    elif raw:
        form = await request.form()
        args.update({k: v for k, v in form.items() if isinstance(v, str)})
    token = None
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
    elif "application/json" not in content_type:
        # Slack accepts `token` in form bodies only; JSON bodies need the header.
        token = args.pop("token", None)
    return args, token


def _auth_error(token: str | None) -> JSONResponse | None:
    if not token:
        return _fail("not_authed")
    if token != SLACK_BOT_TOKEN:
        return _fail("invalid_auth")
    return None


def _blocks(args: dict[str, Any]) -> list[Any] | str | None:
    blocks = args.get("blocks")
    if blocks is None:
        return None
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return "invalid_blocks_format"
    if not isinstance(blocks, list) or not all(isinstance(b, dict) and "type" in b for b in blocks):
        return "invalid_blocks_format"
    if len(blocks) > MAX_BLOCKS or not all(_valid_actions(b) for b in blocks):
        return "invalid_blocks"
    return blocks


# Block Kit limits of an actions block's buttons (Slack's block and element references).
MAX_ACTION_ELEMENTS = 25
_CONFIRM_LIMITS = {"title": 100, "text": 300, "confirm": 30, "deny": 30}


def _plain(obj: Any, limit: int) -> bool:
    return (
        isinstance(obj, dict)
        and obj.get("type") in ("plain_text", "mrkdwn")
        and isinstance(obj.get("text"), str)
        and 0 < len(obj["text"]) <= limit
    )


def _valid_button(element: Any) -> bool:
    if not isinstance(element, dict) or element.get("type") != "button":
        return isinstance(element, dict) and "type" in element  # other elements: not checked
    action_id, value = element.get("action_id", ""), element.get("value", "")
    confirm = element.get("confirm")
    return (
        _plain(element.get("text"), 75)
        and element["text"]["type"] == "plain_text"
        and isinstance(action_id, str)
        and len(action_id) <= 255
        and isinstance(value, str)
        and len(value) <= 2000
        and element.get("style", "primary") in ("primary", "danger")
        and (
            confirm is None
            or (
                isinstance(confirm, dict)
                and all(_plain(confirm.get(k), n) for k, n in _CONFIRM_LIMITS.items())
            )
        )
    )


def _valid_actions(block: dict[str, Any]) -> bool:
    """An actions block: 1 to 25 elements, each button within Block Kit's limits, action ids
    unique in the block."""
    if block.get("type") != "actions":
        return True
    elements = block.get("elements")
    if not isinstance(elements, list) or not 0 < len(elements) <= MAX_ACTION_ELEMENTS:
        return False
    ids = [e.get("action_id") for e in elements if isinstance(e, dict) and e.get("action_id")]
    return len(ids) == len(set(ids)) and all(_valid_button(e) for e in elements)


def _check_content(args: dict[str, Any]) -> tuple[str, list[Any] | None] | JSONResponse:
    text = args.get("text")
    blocks = _blocks(args)
    if isinstance(blocks, str):
        return _fail(blocks)
    if not text and not blocks and not args.get("attachments"):
        return _fail("no_text")
    if text is not None and not isinstance(text, str):
        return _fail("invalid_arguments")
    if text and len(text) > MAX_TEXT:
        return _fail("msg_too_long")
    return text or "", blocks


async def _channel_call(
    request: Request, *, allow_name: bool
) -> tuple[dict[str, Any], str, str] | JSONResponse:
    """A chat.* call's arguments, channel id and name, or the error Slack would answer first."""
    args, token = await _read_args(request)
    if "__invalid__" in args:
        return _fail("invalid_json")
    if (error := _auth_error(token)) is not None:
        return error
    if not args.get("channel"):
        return _fail("channel_not_found")
    resolved = store.resolve_channel(str(args["channel"]), allow_name=allow_name)
    if isinstance(resolved, str):
        return _fail(resolved)
    channel_id, channel_name = resolved
    return args, channel_id, channel_name


@router.post("/api/auth.test")
async def auth_test(request: Request) -> JSONResponse:
    """Who the token belongs to."""
    _, token = await _read_args(request)
    if (error := _auth_error(token)) is not None:
        return error
    return JSONResponse(
        {
            "ok": True,
            "url": "https://sandbox.slack.com/",
            "team": "Sandbox",
            "user": "fleet-hub",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
        }
    )


@router.post("/api/chat.postMessage")
async def post_message(request: Request) -> JSONResponse:
    """Post a message (or a thread reply with `thread_ts`)."""
    call = await _channel_call(request, allow_name=True)
    if isinstance(call, JSONResponse):
        return call
    args, channel_id, channel_name = call
    content = _check_content(args)
    if isinstance(content, JSONResponse):
        return content
    text, blocks = content
    thread_ts = args.get("thread_ts")
    if thread_ts is not None and not isinstance(thread_ts, str):
        return _fail("invalid_thread_ts")
    metadata = _metadata(args)
    if isinstance(metadata, JSONResponse):
        return metadata
    ts = store.next_ts()
    message: dict[str, Any] = {
        "type": "message",
        "subtype": "bot_message",
        "text": text,
        "bot_id": BOT_ID,
        "user": BOT_USER_ID,
        "ts": ts,
        "team": TEAM_ID,
    }
    if blocks is not None:
        message["blocks"] = blocks
    if thread_ts:
        message["thread_ts"] = thread_ts
    if metadata is not None:
        message["metadata"] = metadata
    store.add(
        {
            "channel": channel_id,
            "channel_name": channel_name,
            "ts": ts,
            "thread_ts": thread_ts,
            "text": text,
            "blocks": blocks,
            "metadata": metadata,
            "unfurl_links": args.get("unfurl_links"),
            "updates": [],
            "posted_at": time.time(),
        }
    )
    return JSONResponse({"ok": True, "channel": channel_id, "ts": ts, "message": message})


def _metadata(args: dict[str, Any]) -> dict[str, Any] | JSONResponse | None:
    """`metadata` ({event_type, event_payload}, JSON or a JSON string), as Slack checks it."""
    metadata = args.get("metadata")
    if metadata is None:
        return None
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            return _fail("invalid_metadata_format")
    if (
        not isinstance(metadata, dict)
        or not isinstance(metadata.get("event_type"), str)
        or not isinstance(metadata.get("event_payload"), dict)
    ):
        return _fail("invalid_metadata_format")
    return {"event_type": metadata["event_type"], "event_payload": metadata["event_payload"]}


@router.post("/api/chat.update")
async def update_message(request: Request) -> JSONResponse:
    """Edit a message; `channel` must be the ID returned by `chat.postMessage`."""
    call = await _channel_call(request, allow_name=False)
    if isinstance(call, JSONResponse):
        return call
    args, channel_id, _ = call
    ts = args.get("ts")
    if not isinstance(ts, str):
        return _fail("message_not_found")
    stored = store.find(channel_id, ts)
    if stored is None:
        return _fail("message_not_found")
    content = _check_content(args)
    if isinstance(content, JSONResponse):
        return content
    text, blocks = content
    stored["updates"].append(
        {"text": stored["text"], "blocks": stored["blocks"], "replaced_at": time.time()}
    )
    stored["text"] = text
    if blocks is not None:
        stored["blocks"] = blocks
    message = {
        "type": "message",
        "text": text,
        "bot_id": BOT_ID,
        "user": BOT_USER_ID,
        "ts": ts,
        "edited": {"user": BOT_USER_ID, "ts": store.next_ts()},
    }
    if stored["blocks"] is not None:
        message["blocks"] = stored["blocks"]
    return JSONResponse(
        {"ok": True, "channel": channel_id, "ts": ts, "text": text, "message": message}
    )


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true")


def _public(message: dict[str, Any], *, with_metadata: bool) -> dict[str, Any]:
    """A stored message as conversations.history/replies show it."""
    shown: dict[str, Any] = {
        "type": "message",
        "subtype": "bot_message",
        "text": message["text"],
        "bot_id": BOT_ID,
        "user": BOT_USER_ID,
        "ts": message["ts"],
        "team": TEAM_ID,
    }
    if message.get("blocks") is not None:
        shown["blocks"] = message["blocks"]
    if message.get("thread_ts"):
        shown["thread_ts"] = message["thread_ts"]
    if with_metadata and message.get("metadata") is not None:
        shown["metadata"] = message["metadata"]
    if message.get("files"):
        # A message that shares files carries the file objects (id, name, title, type).
        shown["files"] = [
            {key: f[key] for key in ("id", "name", "title") if key in f}
            for f in map(store.file, message["files"])
            if f is not None
        ]
    return shown


def _page(items: list[Any], args: dict[str, Any]) -> tuple[list[Any], str] | JSONResponse:
    """One page of `items` by Slack's cursor (`limit` default 100, at most 999)."""
    try:
        limit = min(max(int(args.get("limit") or 100), 1), 999)
        start = int(args["cursor"].removeprefix("next_")) if args.get("cursor") else 0
    except (TypeError, ValueError):
        return _fail("invalid_cursor")
    end = start + limit
    return items[start:end], (f"next_{end}" if end < len(items) else "")


def _in_window(ts: str, args: dict[str, Any]) -> bool:
    inclusive = _truthy(args.get("inclusive", "0"))
    value = float(ts)
    if args.get("oldest"):
        oldest = float(args["oldest"])
        if value < oldest or (value == oldest and not inclusive):
            return False
    if args.get("latest"):
        latest = float(args["latest"])
        if value > latest or (value == latest and not inclusive):
            return False
    return True


async def _read_call(request: Request) -> tuple[dict[str, Any], str] | JSONResponse:
    """A conversations.* read's arguments and channel id (IDs only, as Slack wants)."""
    args, token = await _read_args(request)
    if "__invalid__" in args:
        return _fail("invalid_json")
    if (error := _auth_error(token)) is not None:
        return error
    resolved = store.resolve_channel(str(args.get("channel") or ""), allow_name=False)
    if isinstance(resolved, str):
        return _fail(resolved)
    return args, resolved[0]


@router.api_route("/api/conversations.history", methods=["GET", "POST"])
async def conversations_history(request: Request) -> JSONResponse:
    """A channel's top-level messages, newest first (`oldest`/`latest` window, cursor pages);
    message metadata only with `include_all_metadata`."""
    call = await _read_call(request)
    if isinstance(call, JSONResponse):
        return call
    args, channel_id = call
    with_metadata = _truthy(args.get("include_all_metadata", "0"))
    messages = [
        m
        for m in reversed(store.snapshot())
        if m["channel"] == channel_id
        and (not m.get("thread_ts") or m["thread_ts"] == m["ts"])
        and _in_window(m["ts"], args)
    ]
    page = _page(messages, args)
    if isinstance(page, JSONResponse):
        return page
    items, cursor = page
    return JSONResponse(
        {
            "ok": True,
            "messages": [_public(m, with_metadata=with_metadata) for m in items],
            "has_more": bool(cursor),
            "pin_count": 0,
            "response_metadata": {"next_cursor": cursor},
        }
    )


@router.api_route("/api/conversations.replies", methods=["GET", "POST"])
async def conversations_replies(request: Request) -> JSONResponse:
    """A thread: its parent first, then the replies oldest first (cursor pages)."""
    call = await _read_call(request)
    if isinstance(call, JSONResponse):
        return call
    args, channel_id = call
    ts = args.get("ts")
    if not ts or store.find(channel_id, str(ts)) is None:
        return _fail("thread_not_found")
    with_metadata = _truthy(args.get("include_all_metadata", "0"))
    thread = [
        m
        for m in store.snapshot()
        if m["channel"] == channel_id
        and (m["ts"] == ts or m.get("thread_ts") == ts)
        and (m["ts"] == ts or _in_window(m["ts"], args))
    ]
    page = _page(thread, args)
    if isinstance(page, JSONResponse):
        return page
    items, cursor = page
    return JSONResponse(
        {
            "ok": True,
            "messages": [_public(m, with_metadata=with_metadata) for m in items],
            "has_more": bool(cursor),
            "response_metadata": {"next_cursor": cursor},
        }
    )


@router.api_route("/api/conversations.list", methods=["GET", "POST"])
async def conversations_list(request: Request) -> JSONResponse:
    """The workspace's channels (archived ones left out with `exclude_archived`)."""
    args, token = await _read_args(request)
    if (error := _auth_error(token)) is not None:
        return error
    channels = [
        {"id": channel_id, "name": name, "is_channel": True, "is_archived": False}
        for channel_id, name in store.channel_list()
    ]
    page = _page(channels, args)
    if isinstance(page, JSONResponse):
        return page
    items, cursor = page
    return JSONResponse(
        {"ok": True, "channels": items, "response_metadata": {"next_cursor": cursor}}
    )


@router.post("/api/files.getUploadURLExternal")
async def get_upload_url_external(request: Request) -> JSONResponse:
    """Reserve a file id and a one-time URL to POST the file's bytes to."""
    args, token = await _read_args(request)
    if "__invalid__" in args:
        return _fail("invalid_json")
    if (error := _auth_error(token)) is not None:
        return error
    filename = args.get("filename")
    try:
        length = int(args.get("length"))
    except (TypeError, ValueError):
        return _fail("invalid_arguments")
    if not filename or not isinstance(filename, str) or length < 1:
        return _fail("invalid_arguments")
    file_id = store.new_file(filename, length, args.get("alt_txt"))
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        {"ok": True, "upload_url": f"{base}/slack/upload/v1/{file_id}", "file_id": file_id}
    )


@router.post("/upload/v1/{file_id}")
async def upload_bytes(file_id: str, request: Request) -> PlainTextResponse:
    """Receive a file's bytes (raw body, or the first part of a multipart form)."""
    stored = store.file(file_id)
    if stored is None:
        return PlainTextResponse("upload url not found", status_code=404)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        part = next((v for v in form.values() if not isinstance(v, str)), None)
        data = await part.read() if part is not None else b""
    else:
        data = await request.body()
    stored["content"] = data
    return PlainTextResponse(f"OK - {len(data)}")


@router.post("/api/files.completeUploadExternal")
async def complete_upload_external(request: Request) -> JSONResponse:
    """Finish uploads and share the files in `channel_id` (a message carrying them)."""
    args, token = await _read_args(request)
    if "__invalid__" in args:
        return _fail("invalid_json")
    if (error := _auth_error(token)) is not None:
        return error
    try:
        items = args.get("files")
        items = json.loads(items) if isinstance(items, str) else items
    except ValueError:
        return _fail("invalid_arguments")
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        return _fail("invalid_arguments")
    files = []
    for item in items:
        stored = store.file(str(item.get("id", "")))
        if stored is None or stored["content"] is None:
            return _fail("file_not_found")
        files.append((stored, item.get("title") or stored["name"]))
    channel_id = args.get("channel_id") or None
    channel_name = None
    if channel_id:
        resolved = store.resolve_channel(str(channel_id), allow_name=False)
        if isinstance(resolved, str):
            return _fail(resolved)
        channel_id, channel_name = resolved
    thread_ts = args.get("thread_ts") or None
    public = []
    for stored, title in files:
        stored.update(title=title, shared=bool(channel_id))
        if channel_id:
            stored["channels"] = [channel_id]
        public.append(
            {
                "id": stored["id"],
                "name": stored["name"],
                "title": title,
                "mimetype": _mimetype(stored["name"]),
                "filetype": stored["name"].rsplit(".", 1)[-1].lower(),
                "size": len(stored["content"]),
                "channels": stored["channels"],
            }
        )
    if channel_id:
        ts = store.next_ts()
        store.add(
            {
                "channel": channel_id,
                "channel_name": channel_name,
                "ts": ts,
                "thread_ts": thread_ts,
                "text": args.get("initial_comment") or "",
                "blocks": None,
                "files": [p["id"] for p in public],
                "unfurl_links": None,
                "updates": [],
                "posted_at": time.time(),
            }
        )
    return JSONResponse({"ok": True, "files": public})


def _mimetype(name: str) -> str:
    return {"png": "image/png", "csv": "text/csv", "pdf": "application/pdf"}.get(
        name.rsplit(".", 1)[-1].lower(), "application/octet-stream"
    )


@control_router.get("/files")
def list_files() -> dict[str, Any]:
    """Every shared file: name, title, size, channels."""
    return {"files": store.shared_files()}


@control_router.get("/files/{file_id}/content")
def file_content(file_id: str) -> Response:
    """A file's bytes, as uploaded."""
    stored = store.file(file_id)
    if stored is None or stored["content"] is None:
        return JSONResponse({"ok": False, "error": "file_not_found"}, status_code=404)
    return Response(stored["content"], media_type=_mimetype(stored["name"]))


@control_router.get("/messages")
def list_messages(channel: str | None = None, thread_ts: str | None = None) -> dict[str, Any]:
    """Every message posted to the fake, oldest first, with its update history."""
    messages = store.snapshot()
    if channel:
        wanted = channel.removeprefix("#").lower()
        messages = [m for m in messages if channel == m["channel"] or m["channel_name"] == wanted]
    if thread_ts:
        messages = [m for m in messages if m["thread_ts"] == thread_ts or m["ts"] == thread_ts]
    return {"messages": messages}


@control_router.delete("/messages")
def clear_messages() -> dict[str, bool]:
    """Forget every message and every channel added since the start."""
    store.reset()
    return {"ok": True}


class NewChannel(BaseModel):
    """A channel to add to the fake workspace (`#` optional)."""

    name: str


@control_router.post("/channels")
def create_channel(channel: NewChannel) -> dict[str, Any]:
    """Add a channel, so messages to it are accepted instead of `channel_not_found`."""
    name = channel.name.strip().removeprefix("#").lower()
    return {"ok": True, "channel": {"id": store.create_channel(name), "name": name}}


class ButtonPress(BaseModel):
    """Press a button on a stored message, as a Slack user would."""

    ts: str
    action_id: str = "ack_alert"
    username: str = "admin"
    user_id: str = "U0SANDBOXUSR"
    # Where the hub listens; defaults to SANDBOX_SLACK_INTERACTIONS_URL + /slack/interactions.
    url: str | None = None


@control_router.post("/press")
async def press_button(press: ButtonPress) -> JSONResponse:
    """Send the signed `block_actions` interaction Slack would send for that button."""
    message = next((m for m in store.snapshot() if m["ts"] == press.ts), None)
    if message is None:
        return JSONResponse({"ok": False, "error": "message_not_found"}, status_code=404)
    button, block_id = _find_button(message.get("blocks") or [], press.action_id)
    if button is None:
        return JSONResponse({"ok": False, "error": "button_not_found"}, status_code=404)
    url = press.url or os.environ.get("SANDBOX_SLACK_INTERACTIONS_URL", "").rstrip("/")
    if not url:
        return JSONResponse({"ok": False, "error": "no_interactions_url"}, status_code=400)
    if not url.endswith("/slack/interactions"):
        url += "/slack/interactions"
    now = f"{time.time():.6f}"
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": "sandbox"},
        "user": {"id": press.user_id, "username": press.username, "team_id": TEAM_ID},
        "api_app_id": "A0SANDBOX01",
        "container": {"type": "message", "message_ts": press.ts, "channel_id": message["channel"]},
        "channel": {"id": message["channel"], "name": message["channel_name"]},
        "message": {"ts": press.ts, "text": message.get("text", "")},
        "actions": [
            {
                "type": "button",
                "action_id": button["action_id"],
                "block_id": block_id,
                "value": button.get("value", ""),
                "action_ts": now,
            }
        ],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    timestamp = str(int(time.time()))
    digest = hmac.new(
        SLACK_SIGNING_SECRET.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256
    ).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
    }
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(url, content=body, headers=headers)
    try:
        answer: Any = response.json()
    except ValueError:
        answer = response.text
    return JSONResponse({"ok": response.is_success, "status": response.status_code, "hub": answer})


def _find_button(blocks: list[Any], action_id: str) -> tuple[dict[str, Any] | None, str]:
    for block in blocks:
        for element in block.get("elements", []) if isinstance(block, dict) else []:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element, str(block.get("block_id", ""))
    return None, ""
