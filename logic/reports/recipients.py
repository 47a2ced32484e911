"""Report recipients per scope (terminal, or "" for the fleet): list, replace, delete."""

from __future__ import annotations

from sqlmodel import Session

from helpers.time_utils import utc_now
from models.report import ReportRecipients, ReportRecipientsUpdate


def list_all(session: Session) -> list[ReportRecipients]:
    return ReportRecipients.all(session)


def put(session: Session, body: ReportRecipientsUpdate) -> ReportRecipients:
    row = ReportRecipients.get_for(session, body.terminal)
    if row is None:
        row = ReportRecipients(terminal=body.terminal, timezone=body.timezone, updated_at=utc_now())
        session.add(row)
    for name, value in body.model_dump().items():
        setattr(row, name, value)
    row.updated_at = utc_now()
    session.flush()
    return row


def delete(session: Session, terminal: str) -> bool:
    row = ReportRecipients.get_for(session, terminal)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True
