"""Texting consent: STOP (and its synonyms) opts a number out of SMS, START opts it back in.

An opt-out is confirmed by one text (carrier messaging rules allow exactly that one), never
twice for the same opt-out; both directions are audited. Keywords are the CTIA/Twilio set plus
Spanish `BAJA`; a keyword counts only as the whole message (a driver writing "can't stop now"
has not opted out).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from logic.auth import audit
from models.driver_message import SmsOptOut

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "BAJA"})
OPT_IN = frozenset({"START", "UNSTOP", "YES", "ALTA"})
CONFIRMATION = (
    "You will no longer receive text messages from dispatch. Reply START to receive them again."
)


def keyword(body: str | None) -> str | None:
    """The consent keyword the whole message is, upper-cased, else None."""
    word = (body or "").strip().strip(".!").upper()
    return word if word in OPT_OUT or word in OPT_IN else None


def opt_out(session: Session, number: str, driver_id: int | None, word: str, now: datetime) -> bool:
    """Record the opt-out; True when a confirmation is owed (not sent for this opt-out yet)."""
    entry = session.scalars(select(SmsOptOut).where(SmsOptOut.phone_number == number)).first()
    if entry is None:
        entry = SmsOptOut(phone_number=number, driver_id=driver_id, keyword=word, opted_out_at=now)
        session.add(entry)
    elif entry.opted_in_at is not None:
        # Opting out again after a START is a new opt-out, owed its own confirmation.
        entry.opted_in_at = None
        entry.opted_out_at = now
        entry.keyword = word
        entry.confirmed_at = None
    owed = entry.confirmed_at is None
    if owed:
        entry.confirmed_at = now
    session.flush()
    _audit(session, "sms.opt_out", number, driver_id, word)
    return owed


def opt_in(session: Session, number: str, driver_id: int | None, word: str, now: datetime) -> None:
    entry = session.scalars(select(SmsOptOut).where(SmsOptOut.phone_number == number)).first()
    if entry is not None and entry.opted_in_at is None:
        entry.opted_in_at = now
        session.flush()
    _audit(session, "sms.opt_in", number, driver_id, word)


def _audit(session: Session, action: str, number: str, driver_id: int | None, word: str) -> None:
    audit.record(
        session,
        action,
        actor_label=f"sms:{number}",
        resource_type="driver" if driver_id else "phone_number",
        resource_id=driver_id or number,
        details={"keyword": word, "phone_number": number},
    )
