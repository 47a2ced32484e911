"""Sandbox mail: a real SMTP server (aiosmtpd) whose received messages are listed over HTTP.

`start_smtp(port)` serves SMTP on 127.0.0.1 in a background thread (the sandbox command and the
test fixture start it beside the HTTP app). Messages are parsed and kept in memory:
`GET /_sandbox/mail/messages` lists them (envelope, headers, HTML/text bodies, attachments with
their sizes), `GET /_sandbox/mail/messages/{index}/attachments/{filename}` returns one
attachment's bytes, `DELETE` forgets them. `POST /_sandbox/mail/outage {"count": n}` makes the
next n messages fail with `451 4.3.0` (a transient refusal, as a mail server under maintenance
answers), to test delivery across an outage. Sandbox resets clear both.
"""

from __future__ import annotations

import base64
import threading
import time
from email import message_from_bytes, policy
from typing import Any

from aiosmtpd.controller import Controller
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

router = APIRouter(prefix="/_sandbox/mail", tags=["sandbox"])


class MailStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.messages: list[dict[str, Any]] = []
        self.outage = 0

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self.outage = 0

    def set_outage(self, count: int) -> None:
        with self._lock:
            self.outage = count

    def take_outage(self) -> bool:
        with self._lock:
            if self.outage > 0:
                self.outage -= 1
                return True
            return False

    def add(self, message: dict[str, Any]) -> None:
        with self._lock:
            self.messages.append(message)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.messages)

    def export(self) -> list[dict[str, Any]]:
        """The mailbox, JSON-ready (attachment bytes as base64), for persistence."""
        with self._lock:
            return [
                {
                    **m,
                    "attachments": [
                        {**a, "content": base64.b64encode(a["content"]).decode()}
                        for a in m["attachments"]
                    ],
                }
                for m in self.messages
            ]

    def restore(self, messages: list[dict[str, Any]]) -> None:
        with self._lock:
            self.messages[:] = [
                {
                    **m,
                    "attachments": [
                        {**a, "content": base64.b64decode(a["content"])}
                        for a in m.get("attachments", [])
                    ],
                }
                for m in messages
            ]


store = MailStore()


def init_state(state: Any) -> None:
    state.on_reset(store.reset)


class _Handler:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if store.take_outage():
            return "451 4.3.0 sandbox mail system unavailable, try again later"
        store.add(_parse(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 Message accepted for delivery"


def _unfolded(value: Any) -> str:
    """A header's value as a server sees it: a folded header keeps the whitespace it was folded at
    (CPython's parser does for Message-ID), and RFC 5322 makes it insignificant."""
    return str(value).strip()


def _parse(mail_from: str, rcpt_tos: list[str], raw: bytes) -> dict[str, Any]:
    message = message_from_bytes(raw, policy=policy.default)
    html = message.get_body(preferencelist=("html",))
    plain = message.get_body(preferencelist=("plain",))
    attachments = [
        {
            "filename": part.get_filename(),
            "content_type": part.get_content_type(),
            "content": part.get_payload(decode=True) or b"",
        }
        for part in message.iter_attachments()
    ]
    return {
        "mail_from": mail_from,
        "rcpt_to": rcpt_tos,
        "message_id": _unfolded(message.get("Message-ID", "")) or None,
        "date": message.get("Date"),
        # Every top-level header as received, so tests can check what a real server would see.
        "headers": [[name, _unfolded(value)] for name, value in message.items()],
        "from": message.get("From"),
        "to": message.get("To"),
        "subject": message.get("Subject"),
        "html": html.get_content() if html is not None else None,
        "text": plain.get_content() if plain is not None else None,
        "attachments": attachments,
        "received_at": time.time(),
    }


def start_smtp(port: int, host: str = "127.0.0.1") -> Controller:
    """Serve SMTP on host:port in a thread; call `.stop()` on the result to end it."""
    controller = Controller(_Handler(), hostname=host, port=port)
    controller.start()
    return controller


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return {
        **{k: v for k, v in message.items() if k != "attachments"},
        "attachments": [
            {
                "filename": a["filename"],
                "content_type": a["content_type"],
                "size": len(a["content"]),
            }
            for a in message["attachments"]
        ],
    }


@router.get("/messages")
def list_messages(to: str | None = None) -> dict[str, Any]:
    """Every message received, oldest first (optionally only those to one address)."""
    messages = [_public(m) for m in store.snapshot()]
    if to:
        messages = [m for m in messages if to.lower() in (r.lower() for r in m["rcpt_to"])]
    return {"messages": messages}


@router.get("/messages/{index}/attachments/{filename}")
def attachment(index: int, filename: str) -> Response:
    """One attachment's bytes."""
    messages = store.snapshot()
    if not 0 <= index < len(messages):
        return JSONResponse({"error": "message_not_found"}, status_code=404)
    for part in messages[index]["attachments"]:
        if part["filename"] == filename:
            return Response(part["content"], media_type=part["content_type"])
    return JSONResponse({"error": "attachment_not_found"}, status_code=404)


@router.delete("/messages")
def clear_messages() -> dict[str, bool]:
    """Forget every message."""
    store.reset()
    return {"ok": True}


class Outage(BaseModel):
    count: int = Field(default=1, ge=1, le=1000)


@router.post("/outage")
def outage(body: Outage) -> dict[str, int]:
    """Refuse the next `count` messages with a transient 451."""
    store.set_outage(body.count)
    return {"outage": body.count}
