"""Bounds for free-form JSON that callers may store (alert-rule `params`): depth and size."""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 8
MAX_BYTES = 16_384


def check_json_bounds(value: Any, *, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES) -> Any:
    """Return `value` unchanged, or raise ValueError if it is nested or sized past the bounds."""
    if _depth(value) > max_depth:
        raise ValueError(f"nested deeper than {max_depth} levels")
    size = len(json.dumps(value, ensure_ascii=False, default=str).encode())
    if size > max_bytes:
        raise ValueError(f"{size} bytes of JSON, more than the limit of {max_bytes}")
    return value


def _depth(value: Any) -> int:
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            level += 1
            deepest = max(deepest, level)
            stack.extend(
                (child, level) for child in (item.values() if isinstance(item, dict) else item)
            )
    return deepest
