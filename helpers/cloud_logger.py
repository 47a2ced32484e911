"""Logging setup: JSON lines for Google Cloud Logging in the cloud, readable lines locally.

Every record carries the request id (and the Cloud Trace id when Cloud Run sends one), and
anything that looks like a credential is masked before it is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
trace_var: ContextVar[str | None] = ContextVar("trace", default=None)

_SECRET_PATTERNS = [
    re.compile(
        r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(bearer\s+|ditat-token\s+|basic\s+)?[^\s\"',}]+"
    ),
    re.compile(
        r"(?i)((?:api[_-]?key|token|secret|password|xi-api-key|key)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"
    ),
    re.compile(r"xox[abposr]-[A-Za-z0-9-]+"),
]


def redact(text: str) -> str:
    """Mask credentials in free text (headers, query strings, key=value pairs, Slack tokens)."""
    for pattern in _SECRET_PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: (m.group(1) or "") + "***", text)
        else:
            text = pattern.sub("***", text)
    return text


_SEVERITY = {"WARNING": "WARNING", "CRITICAL": "CRITICAL", "ERROR": "ERROR", "INFO": "INFO"}


class CloudJsonFormatter(logging.Formatter):
    """One JSON object per line with the fields Cloud Logging understands."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "severity": _SEVERITY.get(record.levelname, "DEBUG"),
            "message": redact(record.getMessage()),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
        }
        if record.exc_info:
            entry["stack_trace"] = redact(self.formatException(record.exc_info))
        if request_id := request_id_var.get():
            entry["request_id"] = request_id
        if trace := trace_var.get():
            entry["logging.googleapis.com/trace"] = trace
        return json.dumps(entry, default=str)


class LocalFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = redact(super().format(record))
        if request_id := request_id_var.get():
            line += f" [req {request_id}]"
        return line


def setup_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Configure the root logger once; `auto` means JSON when not attached to a terminal."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(CloudJsonFormatter() if use_json else LocalFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs full URLs at INFO, and some vendors take the key in the query string.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
