"""A customer notice as an email (plain text with an HTML alternative), from the facts its row
keeps: times in the stop's own zone ("Sun Dec 6, 14:05 CST"), durations for people.

Every header RFC 5322 asks for is set (`Date`, `From`, `To`, `Subject`, `Message-ID`); the
Message-ID and Date come from the row, so a resend after an outage is the same message.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from html import escape
from typing import Any

from helpers.time_utils import format_duration, format_local_datetime
from models.customer import NoticeKind


def local_time(value: str | datetime | None, zone: str | None) -> str:
    """A fact's moment (ISO text) as the facility reads it: "Sun Dec 6, 14:05 CST"."""
    if value is None:
        return "—"
    return format_local_datetime(
        datetime.fromisoformat(value) if isinstance(value, str) else value, zone
    )


def _window(facts: dict[str, Any]) -> str | None:
    start, end, zone = facts.get("window_start"), facts.get("window_end"), facts.get("zone")
    if not start and not end:
        return None
    if start and end and start != end:
        return f"{local_time(start, zone)} to {local_time(end, zone)}"
    return local_time(start or end, zone)


def _place(facts: dict[str, Any]) -> str:
    where = ", ".join(p for p in (facts.get("city"), facts.get("state")) if p)
    name = facts.get("stop_name") or f"stop {facts.get('stop_sequence')}"
    return f"{name} ({where})" if where else name


def subject(kind: str, facts: dict[str, Any]) -> str:
    load = f"Load {facts['load_number']}" if facts.get("load_number") else "Your load"
    place = _place(facts)
    return {
        NoticeKind.ETA: f"{load}: new estimated arrival at {place}",
        NoticeKind.ARRIVED: f"{load} arrived at {place}",
        NoticeKind.DEPARTED: f"{load} departed {place}",
        NoticeKind.DETENTION: f"{load}: detention started at {place}",
        NoticeKind.DELIVERED: f"{load} delivered at {place}",
    }.get(kind, f"{load}: update")[:200]


def lines(kind: str, facts: dict[str, Any]) -> list[str]:
    """The notice's sentences; each fact named, nothing about who drives."""
    zone, place = facts.get("zone"), _place(facts)
    out: list[str] = []
    if kind == NoticeKind.ETA:
        basis = f" ({facts['eta_basis']})" if facts.get("eta_basis") else ""
        out.append(f"Estimated arrival at {place}: {local_time(facts.get('eta'), zone)}{basis}.")
        if facts.get("late_minutes"):
            late = format_duration(facts["late_minutes"])
            out.append(f"That is {late} after the appointment window ends.")
    elif kind == NoticeKind.ARRIVED:
        out.append(f"Arrived at {place} at {local_time(facts.get('at'), zone)}.")
    elif kind == NoticeKind.DEPARTED:
        out.append(f"Departed {place} at {local_time(facts.get('at'), zone)}.")
    elif kind == NoticeKind.DETENTION:
        free = format_duration(facts.get("free_minutes") or 0)
        out.append(f"At {place} since {local_time(facts.get('at'), zone)}.")
        out.append(
            f"The free time ({free}) ended; detention is billable from "
            f"{local_time(facts.get('billable_from'), zone)} until the truck leaves."
        )
    elif kind == NoticeKind.DELIVERED:
        out.append(f"Delivered: departed {place} at {local_time(facts.get('at'), zone)}.")
    if window := _window(facts):
        out.append(f"Appointment window: {window}.")
    return out


def email_message(
    kind: str,
    facts: dict[str, Any],
    to: str,
    *,
    sender: str,
    message_id: str,
    date: str,
) -> EmailMessage:
    message = EmailMessage()
    message["Date"] = date
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject(kind, facts)
    message["Message-ID"] = message_id
    body = lines(kind, facts)
    footer = (
        "Sent by your carrier about your load. Reply to your carrier's dispatch with questions."
    )
    message.set_content("\n".join([*body, "", footer]))
    html = [f"<h2>{escape(subject(kind, facts))}</h2>"]
    html += [f"<p>{escape(line)}</p>" for line in body]
    html.append(f"<p><small>{escape(footer)}</small></p>")
    message.add_alternative("\n".join(html), subtype="html")
    return message
