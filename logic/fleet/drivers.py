"""Driver listing, detail and the contact/preference edits dispatchers make (audited)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from helpers.errors import NotFound
from helpers.phone import normalize_phone
from logic.auth import audit
from logic.auth.audit import ClientInfo
from logic.listing import Page, PageRequest, fetch_page, order_by_clause, text_search
from models.driver import Driver, DriverPublic, DriverStatus, DriverUpdate
from models.user import User

SORTABLE = {
    "id": Driver.id,
    "last_name": Driver.last_name,
    "first_name": Driver.first_name,
    "status": Driver.status,
    "terminal": Driver.terminal,
    "updated_at": Driver.updated_at,
}


@dataclass(frozen=True)
class DriverFilters:
    status: DriverStatus | None = None
    terminal: str | None = None
    fleet_manager: str | None = None
    do_not_call: bool | None = None
    q: str | None = None


def list_drivers(session: Session, filters: DriverFilters, page: PageRequest) -> Page[DriverPublic]:
    stmt = select(Driver)
    if filters.status:
        stmt = stmt.where(Driver.status == filters.status)
    if filters.terminal:
        stmt = stmt.where(Driver.terminal == filters.terminal)
    if filters.fleet_manager:
        stmt = stmt.where(Driver.fleet_manager == filters.fleet_manager)
    if filters.do_not_call is not None:
        stmt = stmt.where(Driver.do_not_call == filters.do_not_call)
    search = text_search(
        filters.q,
        Driver.first_name,
        Driver.last_name,
        Driver.phone,
        Driver.email,
        Driver.samsara_id,
        Driver.ditat_id,
        Driver.username,
    )
    if search is not None:
        stmt = stmt.where(search)
    order = order_by_clause(page.sort, SORTABLE, default="last_name", tie_breaker=Driver.id)
    rows, total = fetch_page(session, stmt, page, order)
    return Page[DriverPublic](
        items=[DriverPublic.model_validate(d) for d in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


def get_driver(session: Session, driver_id: int) -> Driver:
    driver = session.get(Driver, driver_id)
    if driver is None:
        raise NotFound(f"driver {driver_id} not found")
    return driver


def update_driver(
    session: Session,
    driver: Driver,
    changes: DriverUpdate,
    *,
    actor: User | None,
    client: ClientInfo | None = None,
) -> Driver:
    """Apply a dispatcher's edit and write one audit row listing each field's old and new value.

    A phone number is stored as E.164 with its extension split off; an empty string clears it.
    """
    data: dict[str, Any] = changes.model_dump(exclude_unset=True)
    if "phone" in data:
        raw = data.pop("phone")
        if raw:
            phone = normalize_phone(raw)
            data["phone"], data["phone_extension"] = phone.e164, phone.extension
        else:
            data["phone"], data["phone_extension"] = None, None
    if data.get("email") == "":
        data["email"] = None
    changed = {
        field: [getattr(driver, field), value]
        for field, value in data.items()
        if getattr(driver, field) != value
    }
    if not changed:
        return driver
    for field, (_old, new) in changed.items():
        setattr(driver, field, new)
    session.add(driver)
    audit.record(
        session,
        "driver.update",
        actor=actor,
        resource_type="driver",
        resource_id=driver.id,
        details={"changes": changed},
        client=client,
    )
    session.flush()
    return driver
