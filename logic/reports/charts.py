"""PNG charts for the reports (matplotlib, headless Agg backend), rendered from stored numbers.

Every chart is `WIDTH` x `HEIGHT` pixels so Slack previews and email clients show it the same.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WIDTH, HEIGHT, DPI = 1200, 600, 100
SCORE_BANDS = ("<50", "50-69", "70-89", "90-100")


def _figure() -> Figure:
    """An empty chart of the common size. matplotlib is imported on the first chart, not with
    this module: it was a seventh of the API's start-up, which most processes never draw."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI, layout="constrained")


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def morning_chart(body: dict[str, Any]) -> bytes:
    """Yesterday's loads on time and late per customer, beside the drivers' score bands."""
    figure = _figure()
    loads, scores = figure.subplots(1, 2)
    customers = body["loads"]["by_customer"][:10]
    names = [c["customer"][:18] for c in customers] or ["(no loads)"]
    on_time = [c["on_time"] for c in customers] or [0]
    late = [c["late"] for c in customers] or [0]
    loads.barh(names, on_time, color="#2e7d32", label="on time")
    loads.barh(names, late, left=on_time, color="#c62828", label="late")
    loads.invert_yaxis()
    loads.set_title(f"Loads delivered {body['yesterday']}")
    loads.set_xlabel("loads")
    loads.legend(loc="lower right")
    bands = body.get("score_bands") or {}
    scores.bar(SCORE_BANDS, [bands.get(b, 0) for b in SCORE_BANDS], color="#1565c0")
    scores.set_title("Driver safety scores")
    scores.set_ylabel("drivers")
    title = body["terminal"] or "Fleet"
    figure.suptitle(f"{title} morning report {body['report_date']}")
    return _png(figure)


def score_series_chart(days: list[str], scores: list[float | None], title: str) -> bytes:
    """A driver's daily safety score over a date range (a day not scored is a gap)."""
    figure = _figure()
    axes = figure.subplots()
    axes.plot(days, [math.nan if s is None else s for s in scores], marker="o", color="#1565c0")
    axes.set_ylim(0, 105)
    axes.set_ylabel("safety score")
    axes.set_title(title)
    axes.tick_params(axis="x", labelrotation=45)
    return _png(figure)
