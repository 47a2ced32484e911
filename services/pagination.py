"""Query parameters shared by every list endpoint: `limit` (hard maximum), `offset`, `sort`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from logic.listing import DEFAULT_LIMIT, MAX_LIMIT, PageRequest

MAX_OFFSET = 100_000


def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"page size, at most {MAX_LIMIT}")
    ] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    sort: Annotated[
        str | None,
        Query(max_length=50, description="field name; prefix '-' for descending"),
    ] = None,
) -> PageRequest:
    return PageRequest(limit=limit, offset=offset, sort=sort)


PageDep = Annotated[PageRequest, Depends(page_params)]

# Free-text and label filters share these bounds.
SearchQuery = Annotated[str | None, Query(max_length=100, description="case-insensitive search")]
LabelQuery = Annotated[str | None, Query(max_length=100)]
