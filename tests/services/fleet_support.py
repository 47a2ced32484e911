"""Shared checks for fleet list endpoints: constant query counts as the data grows."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient


def assert_constant_queries(
    client: TestClient,
    url: str,
    headers: dict[str, str],
    query_counter,
    grow: Callable[[], None],
    *,
    min_items: int = 2,
) -> int:
    """Request `url`, grow the data with `grow()`, request again: same number of statements.

    Returns the statement count, which includes the auth lookups (constant by construction).
    """
    client.get(url, headers=headers)  # warm caches (role/permission lookups, compiled SQL)
    query_counter.reset()
    first = client.get(url, headers=headers)
    small = query_counter.count
    assert first.status_code == 200, first.text
    grow()
    query_counter.reset()
    second = client.get(url, headers=headers)
    large = query_counter.count
    assert second.status_code == 200, second.text
    body = second.json()
    items = body["items"] if isinstance(body, dict) and "items" in body else body["features"]
    assert len(items) >= min_items
    assert len(items) > len(
        first.json()["items"] if "items" in first.json() else first.json()["features"]
    )
    assert small == large, f"{url}: {small} statements for few rows, {large} for many"
    return large
