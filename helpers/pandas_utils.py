"""pandas for what it is good at here: pivots of report rows and CSV/XLSX files.

Aggregation over the database stays in SQL (see bench/reports_bench.py for the measured gap);
these helpers shape rows already computed — flatten, pivot, write. pandas is imported by the
helpers that build frames, not with this module: it was a tenth of the API's start-up, and only
reports and exports need it.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def frame(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    """A DataFrame of `columns` (in that order) from dict rows; missing keys become empty."""
    import pandas as pd

    return pd.DataFrame([{c: row.get(c) for c in columns} for row in rows], columns=list(columns))


def counts_frame(
    rows: Iterable[Mapping[str, Any]], key: str, counts: str, index: Sequence[str]
) -> pd.DataFrame:
    """One column per name in the `counts` dicts of `rows` (e.g. violations by type), zeros
    where a row has none, indexed by `index` columns; `key` names the counted thing."""
    import pandas as pd

    records = [
        {**{c: row.get(c) for c in index}, key: name, "count": n}
        for row in rows
        for name, n in (row.get(counts) or {}).items()
    ]
    if not records:
        return pd.DataFrame(columns=[*index])
    table = pd.DataFrame(records).pivot_table(
        index=list(index), columns=key, values="count", aggfunc="sum", fill_value=0
    )
    table.columns.name = None
    return table.reset_index()


def pivot_by(df: pd.DataFrame, by: str, sums: Sequence[str], means: Sequence[str]) -> pd.DataFrame:
    """Totals of `sums` and averages of `means` per `by` value (missing groups as "(none)")."""
    grouped = df.assign(**{by: df[by].fillna("(none)")}).groupby(by, sort=True)
    result = grouped[list(sums)].sum()
    for column in means:
        result[f"avg_{column}"] = grouped[column].mean().round(1)
    result.insert(0, "drivers", grouped.size())
    return result.reset_index()


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode("utf-8")


def to_xlsx_bytes(sheets: Mapping[str, pd.DataFrame]) -> bytes:
    """One workbook, a sheet per entry (names cut to Excel's 31 characters), via openpyxl."""
    import pandas as pd

    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, df in sheets.items():
            df.to_excel(writer, sheet_name=name[:31], index=False)
    return buffer.getvalue()
