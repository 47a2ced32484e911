"""Render a stored morning report body: Slack Block Kit, an email (HTML + CSV), exports.

Pure functions of the body (and of the driver rows for the CSV), so a delivery retried later
sends exactly what the first attempt would have.
"""

from __future__ import annotations

from email.message import EmailMessage
from html import escape
from typing import Any

from helpers import pandas_utils
from helpers.time_utils import format_duration

MAX_LINES = 10
MAX_SECTION = 2900  # Slack caps a section's text at 3000 characters

SCORECARD_COLUMNS = (
    "report_date", "driver_id", "driver_name", "terminal", "fleet_manager", "safety_score",
    "score_withheld_reason", "trend_7d", "trend_30d", "miles", "miles_source",
    "trips_completed", "stops_completed", "on_time_pct", "late_minutes", "detention_hours",
    "drive_hours", "on_duty_hours", "hos_violations", "safety_events", "speeding_minutes",
    "alerts", "calls", "follow_ups",
)  # fmt: skip


def title(body: dict[str, Any]) -> str:
    scope = body["terminal"] or "Fleet"
    return f"{scope} morning report — {body['report_date']}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}%"


def summary_lines(body: dict[str, Any]) -> list[str]:
    k, loads, calls = body["kpis"], body["loads"], body["calls"]
    return [
        f"Yesterday ({body['yesterday']}): {loads['on_time']} loads on time, {loads['late']} late",
        f"On-time stops {_pct(k['on_time_pct'])} · {k['miles']:g} miles · "
        f"{k['hos_violations']} HOS violations · {k['safety_events']} safety events",
        f"Calls: {calls['total']} ({_outcomes(calls['outcomes'])}) · "
        f"{len(body['follow_ups'])} follow-ups pending",
        *_reach_line(body.get("reach")),
    ]


def _reach_line(reach: dict[str, Any] | None) -> list[str]:
    """Reach per channel and per plan step, when drivers were messaged or a plan ran."""
    if not reach or not (reach["in_cab"]["sent"] or reach["sms"]["sent"] or reach["steps"]):
        return []
    in_cab, sms, call = reach["in_cab"], reach["sms"], reach["call"]
    parts = [
        f"in-cab {_pct(in_cab['reach_rate'])} of {in_cab['sent']}",
        f"texts {_pct(sms['reach_rate'])} of {sms['sent']}",
        f"calls {_pct(call['reach_rate'])} of {call['placed']} "
        f"({call['voicemail_left']} voicemails, {call['transferred']} transfers)",
    ]
    steps = ", ".join(
        f"{kind.replace('_', ' ')} {_pct(counts['reach_rate'])}"
        for kind, counts in sorted(reach["steps"].items())
    )
    return ["Reach: " + " · ".join(parts) + (f" · plan steps: {steps}" if steps else "")]


def _outcomes(outcomes: dict[str, int]) -> str:
    return ", ".join(f"{n} {name}" for name, n in sorted(outcomes.items())) or "none"


def _late_line(load: dict[str, Any], follow_up_calls: set[int]) -> str:
    reasons = (
        "; ".join(_reason(r, follow_up_calls) for r in load["reasons"]) or "no reason reported"
    )
    return (
        f"{load['load_number']} ({load['customer']}) {format_duration(load['late_minutes'])} "
        f"late, {load['driver'] or 'no driver'}: {reasons}"
    )


def _reason(reason: dict[str, Any], follow_up_calls: set[int]) -> str:
    parts = list(reason.get("issues") or [])
    if reason.get("reported_delay_minutes"):
        parts.append(f"delay {format_duration(reason['reported_delay_minutes'])}")
    # A follow-up is listed once, under "Follow-ups from calls"; the late load points there.
    if reason.get("call_id") in follow_up_calls:
        parts.append("follow-up below")
    elif reason.get("note"):
        parts.append(str(reason["note"]))
    return ", ".join(parts) or "call without a reason"


def sections(body: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(heading, lines) for every part of the report, in reading order."""
    health = [h for h in body["integration_health"] if h["status"] != "ok"]
    weather = [
        f"{w['load_number'] or 'trip ' + str(w['trip_id'])}: "
        + "; ".join(
            [
                f"{p['city']}, {p['state']}: " + ", ".join(a["event"] or "" for a in p["alerts"])
                for p in w["places"]
            ]
            + [a["title"] for a in w["open_alerts"]]
        )
        for w in body["weather_watch"]
    ]
    follow_up_calls = {f["call_id"] for f in body["follow_ups"]}
    return [
        ("Late loads", [_late_line(x, follow_up_calls) for x in body["late_loads"]]),
        (
            "Loads by customer",
            [
                f"{c['customer']}: {c['on_time']} on time, {c['late']} late"
                for c in body["loads"]["by_customer"]
            ],
        ),
        (
            "Open critical alerts",
            [f"{a['title']} ({a['status']})" for a in body["critical_alerts"]],
        ),
        (
            "Drivers at risk",
            [f"{d['driver']}: {', '.join(d['reasons'])}" for d in body["drivers_at_risk"]],
        ),
        (
            "Scores withheld (drove, but no miles recorded)",
            [
                f"{d['driver']}: {d['drive_hours']:g} drive hours, no GPS miles for the truck"
                for d in body.get("scores_withheld", [])  # bodies stored before it lack it
            ],
        ),
        (
            "Follow-ups from calls",
            [
                f"{f['driver'] or 'unknown driver'}: {f['reason'] or ', '.join(f['issues'])}"
                for f in body["follow_ups"]
            ],
        ),
        (
            "Integration health",
            [
                f"{h['source']} {h['entity']}: {h['status']}"
                + (
                    f" (last success {format_duration(h['lag_seconds'] / 60)} ago)"
                    if h["lag_seconds"] is not None
                    else ""
                )
                for h in health
            ],
        ),
        ("Weather watch", weather),
        (
            "Detention yesterday by customer",
            [
                f"{c['customer']}: {format_duration(c['billable_minutes'])} billable over "
                f"{c['detained_visits']} of {c['visits']} stops"
                for c in body.get("detention_by_customer", [])  # older bodies lack it
            ],
        ),
        (
            "Trucks held at a stop now",
            [
                f"{h['unit_number'] or 'truck'} ({h['load_number'] or 'trip ' + str(h['trip_id'])})"
                f" at {h['facility'] or 'a stop'}: held {format_duration(h['held_minutes'])}"
                + (
                    f", {format_duration(h['billable_minutes'])} billable"
                    if h["billable_minutes"]
                    else ""
                )
                for h in body.get("held_now", [])
            ],
        ),
    ]


def _clip(lines: list[str]) -> list[str]:
    shown = lines[:MAX_LINES]
    if len(lines) > MAX_LINES:
        shown.append(f"… and {len(lines) - MAX_LINES} more")
    return shown


def slack_message(body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, Block Kit blocks)."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title(body)[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(summary_lines(body))}},
    ]
    for heading, lines in sections(body):
        if not lines:
            continue
        text = f"*{heading}*\n" + "\n".join(f"• {line}" for line in _clip(lines))
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:MAX_SECTION]}})
    blocks.append(
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"Safety score: {body['score_formula']}"[:2000]}
            ],
        }
    )
    return f"{title(body)}: " + "; ".join(summary_lines(body)), blocks


def email_message(
    body: dict[str, Any],
    recipients: list[str],
    csv_bytes: bytes,
    *,
    sender: str,
    message_id: str,
    date: str,
) -> EmailMessage:
    """The report as HTML (plain-text alternative) with the drivers' scorecard as CSV.

    Every header RFC 5322 requires is set here (`Date`, `From`; `To`, `Subject` and
    `Message-ID` besides; MIME-Version comes with the multipart body): a message without `Date`
    is flagged by spam filters (MISSING_DATE). `message_id` and `date` are the delivery's own
    (`email.utils.make_msgid` / `formatdate`, made once), so a retry is the same message.
    """
    message = EmailMessage()
    message["Date"] = date
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = title(body)
    message["Message-ID"] = message_id
    text = "\n".join(summary_lines(body))
    for heading, lines in sections(body):
        if lines:
            text += f"\n\n{heading}\n" + "\n".join(f"- {line}" for line in lines)
    message.set_content(text)
    html = [f"<h2>{escape(title(body))}</h2>", "<ul>"]
    html += [f"<li>{escape(line)}</li>" for line in summary_lines(body)] + ["</ul>"]
    for heading, lines in sections(body):
        if lines:
            html.append(f"<h3>{escape(heading)}</h3><ul>")
            html += [f"<li>{escape(line)}</li>" for line in lines]
            html.append("</ul>")
    html.append(f"<p><small>Safety score: {escape(body['score_formula'])}</small></p>")
    message.add_alternative("\n".join(html), subtype="html")
    filename = f"driver-scorecard-{body['yesterday']}{_scope_suffix(body)}.csv"
    message.add_attachment(csv_bytes, maintype="text", subtype="csv", filename=filename)
    return message


def _scope_suffix(body: dict[str, Any]) -> str:
    return f"-{body['terminal'].lower().replace(' ', '-')}" if body["terminal"] else ""


def scorecard_csv(rows: list[dict[str, Any]]) -> bytes:
    return pandas_utils.to_csv_bytes(pandas_utils.frame(rows, SCORECARD_COLUMNS))


def scorecard_xlsx(rows: list[dict[str, Any]], totals: dict[str, Any]) -> bytes:
    """Sheets: Drivers (one row each), By terminal (pivot), HOS violations and Safety events
    (counts by type per driver), Totals (the SQL totals the fleet endpoint reports)."""
    drivers = pandas_utils.frame(rows, SCORECARD_COLUMNS)
    index = ("driver_id", "driver_name")
    sheets = {
        "Drivers": drivers,
        "By terminal": pandas_utils.pivot_by(
            drivers,
            "terminal",
            sums=("miles", "trips_completed", "hos_violations", "safety_events", "calls"),
            means=("safety_score",),
        ),
        "HOS violations": pandas_utils.counts_frame(rows, "type", "hos_violations_by_type", index),
        "Safety events": pandas_utils.counts_frame(rows, "type", "safety_events_by_type", index),
        "Totals": pandas_utils.frame([totals], list(totals)),
    }
    return pandas_utils.to_xlsx_bytes(sheets)
