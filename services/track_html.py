"""The public tracking page's HTML: server-rendered, self-contained (one inline stylesheet, no
script, no external request), readable on a 375 px phone. Every value is escaped."""

from __future__ import annotations

from datetime import datetime
from html import escape

from helpers.time_utils import format_local_datetime
from models.trip_share import TrackStop, TrackView

_STATUS_LABEL = {
    "upcoming": "Upcoming",
    "arrived": "Arrived",
    "held": "Arrived, waiting to unload",
    "departed": "Departed",
    "skipped": "Skipped",
}

_STYLE = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1b1f24;background:#f4f6f8}
main{max-width:760px;margin:0 auto;padding:16px}
h1{font-size:1.35rem;margin:0 0 4px}
.meta{color:#57606a;font-size:.9rem;margin:0 0 16px}
ol{list-style:none;margin:0;padding:0}
li{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px;margin:0 0 10px}
.row{display:flex;flex-wrap:wrap;justify-content:space-between;gap:4px 12px}
.name{font-weight:600;overflow-wrap:anywhere}
.badge{font-size:.8rem;padding:2px 8px;border-radius:999px;background:#eaeef2;white-space:nowrap}
.held{background:#fff1c2}.departed{background:#dafbe1}.arrived{background:#ddf4ff}
.small{color:#57606a;font-size:.9rem}
footer{color:#57606a;font-size:.8rem;margin-top:16px}
"""


def _when(moment: datetime | None, zone: str) -> str:
    """A moment in the place's own time, zone named ("Wed Mar 11, 09:55 CDT")."""
    if moment is None:
        return "—"
    text = format_local_datetime(moment, zone)
    return f'<time datetime="{escape(moment.isoformat())}">{escape(text)}</time>'


def _window(stop: TrackStop) -> str:
    if stop.window_start is None and stop.window_end is None:
        return "no appointment"
    if stop.window_start and stop.window_end and stop.window_end != stop.window_start:
        return (
            f"{_when(stop.window_start, stop.timezone)} to {_when(stop.window_end, stop.timezone)}"
        )
    return _when(stop.window_start or stop.window_end, stop.timezone)


def _stop(stop: TrackStop) -> str:
    place = ", ".join(escape(p) for p in (stop.city, stop.state) if p)
    eta = ""
    if stop.eta is not None:
        basis = f" ({escape(stop.eta_basis)})" if stop.eta_basis else ""
        eta = f'<div class="small">Estimated arrival: {_when(stop.eta, stop.timezone)}{basis}</div>'
    label = _STATUS_LABEL.get(stop.status, stop.status)
    return (
        f'<li><div class="row"><span class="name">{stop.sequence}. '
        f"{escape(stop.name or stop.stop_type.title())}</span>"
        f'<span class="badge {escape(stop.status)}">{escape(label)}</span></div>'
        f'<div class="small">{escape(stop.stop_type.title())}{" · " + place if place else ""}</div>'
        f'<div class="small">Window: {_window(stop)}</div>{eta}</li>'
    )


def render(view: TrackView) -> str:
    title = f"Load {view.load_number}" if view.load_number else "Your load"
    position = (
        ", ".join(escape(p) for p in (view.position.city, view.position.state) if p)
        if view.position
        else "not available"
    )
    stops = "".join(_stop(s) for s in view.stops)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body><main>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="meta">Status: {escape(view.status.replace("_", " "))} · Near: {position}'
        f" · Updated: {_when(view.last_update, view.timezone)}</p>"
        f"<ol>{stops}</ol>"
        f"<footer>Times are local to each stop. This link expires "
        f"{_when(view.expires_at, view.timezone)}.</footer>"
        "</main></body></html>"
    )
