"""One conversation per driver: every message (in-cab, SMS, either way) and every AI call, in time
order, each with its delivery/read status and the alert, trip, campaign or contact run behind it.

A page is one UNION ALL of (kind, id, time) over both tables, ordered and cut in SQL, then the
page's rows loaded in two queries — a constant number of statements whatever the history.
"""

from __future__ import annotations

from sqlalchemy import func, literal, select, union_all
from sqlmodel import Session

from helpers.errors import NotFound, Unprocessable
from logic.listing import Page, PageRequest
from models.call import Call
from models.campaign import CampaignTarget
from models.driver import Driver
from models.driver_message import ConversationItem, DriverMessage

SORTS = ("at", "-at")


def _message_item(row: DriverMessage) -> ConversationItem:
    return ConversationItem(
        kind="message",
        id=row.id,
        at=row.created_at,
        channel=row.channel,
        direction=row.direction,
        text=row.body,
        status=row.delivery_status,
        delivery_status=row.delivery_status,
        delivered_at=row.delivered_at,
        read_at=row.read_at,
        purpose=row.purpose,
        alert_id=row.alert_id,
        trip_id=row.trip_id,
        campaign_id=row.campaign_id,
        contact_run_id=row.contact_run_id,
        insight=row.insight or None,
    )


def _call_item(call: Call, campaign_id: int | None) -> ConversationItem:
    return ConversationItem(
        kind="call",
        id=call.id,
        at=call.created_at,
        channel=call.provider,
        direction="outbound",
        text=call.summary,
        status=call.status,
        outcome=call.outcome,
        purpose=call.purpose,
        alert_id=call.alert_id,
        trip_id=call.trip_id,
        campaign_id=campaign_id,
    )


def conversation(session: Session, driver_id: int, page: PageRequest) -> Page[ConversationItem]:
    """The driver's messages and calls, newest first (`sort=at`: oldest first)."""
    if session.get(Driver, driver_id) is None:
        raise NotFound(f"driver {driver_id} not found")
    sort = page.sort or "-at"
    if sort not in SORTS:
        raise Unprocessable(
            f"cannot sort by {sort!r}; sort by at or -at", loc=("query", "sort"), input=sort
        )
    entries = union_all(
        select(
            literal("message").label("kind"),
            DriverMessage.id.label("id"),
            DriverMessage.created_at.label("at"),
        ).where(DriverMessage.driver_id == driver_id),
        select(
            literal("call").label("kind"), Call.id.label("id"), Call.created_at.label("at")
        ).where(Call.driver_id == driver_id),
    ).subquery()
    total = session.scalar(select(func.count()).select_from(entries)) or 0
    descending = sort.startswith("-")
    order = (
        [entries.c.at.desc(), entries.c.kind.desc(), entries.c.id.desc()]
        if descending
        else [entries.c.at.asc(), entries.c.kind.asc(), entries.c.id.asc()]
    )
    keys = session.execute(
        select(entries.c.kind, entries.c.id).order_by(*order).limit(page.limit).offset(page.offset)
    ).all()
    message_ids = [i for kind, i in keys if kind == "message"]
    call_ids = [i for kind, i in keys if kind == "call"]
    messages = {
        m.id: m
        for m in session.scalars(select(DriverMessage).where(DriverMessage.id.in_(message_ids)))
    }
    calls = {
        call.id: (call, campaign_id)
        for call, campaign_id in session.execute(
            select(Call, CampaignTarget.campaign_id)
            .outerjoin(CampaignTarget, CampaignTarget.id == Call.campaign_target_id)
            .where(Call.id.in_(call_ids))
        ).all()
    }
    items = [
        _message_item(messages[i]) if kind == "message" else _call_item(*calls[i])
        for kind, i in keys
    ]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)
