"""The customer directory: customers (created by Ditat ingest or by people) and their contacts,
listed in pages and changed by people with an audit row per change.

`ensure_customers` is ingest's way in: one set-based insert of the names not known yet, keyed on
the normalised name, so concurrent ingests and re-runs never create a customer twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from helpers.errors import Conflict, NotFound
from logic.auth import audit
from logic.auth.audit import ClientInfo
from logic.listing import Page, PageRequest, fetch_page, order_by_clause, text_search
from models.customer import (
    Customer,
    CustomerContact,
    CustomerContactCreate,
    CustomerContactPublic,
    CustomerContactUpdate,
    CustomerCreate,
    CustomerPublic,
    CustomerUpdate,
    customer_key,
    customer_name,
)
from models.trip import Trip
from models.user import User

CUSTOMER_SORTABLE = {"id": Customer.id, "name": Customer.key, "created_at": Customer.created_at}
CONTACT_SORTABLE = {"id": CustomerContact.id, "name": CustomerContact.name}


def ensure_customers(
    session: Session, names: Iterable[str | None], now: datetime
) -> dict[str, int]:
    """Customer id by key for every non-blank name, inserting the new ones (first spelling wins)."""
    wanted: dict[str, str] = {}
    for name in names:
        key = customer_key(name)
        if key is not None and key not in wanted:
            wanted[key] = customer_name(name) or key
    if not wanted:
        return {}
    known = Customer.ids_by_key(session, sorted(wanted))
    missing = [
        {"name": wanted[key], "key": key, "created_at": now, "updated_at": now}
        for key in sorted(wanted)
        if key not in known
    ]
    if missing:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(insert(Customer).on_conflict_do_nothing(index_elements=["key"]), missing)
        known = Customer.ids_by_key(session, sorted(wanted))
    return known


def get_customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    return customer


def list_customers(session: Session, page: PageRequest, q: str | None) -> Page[CustomerPublic]:
    stmt = select(Customer)
    if (match := text_search(q, Customer.name)) is not None:
        stmt = stmt.where(match)
    order = order_by_clause(page.sort, CUSTOMER_SORTABLE, default="name", tie_breaker=Customer.id)
    rows, total = fetch_page(session, stmt, page, order)
    return Page[CustomerPublic](
        items=[CustomerPublic.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


def _flush_unique(session: Session, what: str) -> None:
    """Flush in a savepoint; a unique clash is a 409 naming `what`, not a 500."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"{what} already exists") from None


def create_customer(
    session: Session, body: CustomerCreate, *, actor: User, client: ClientInfo
) -> Customer:
    customer = Customer(name=body.name, key=customer_key(body.name) or body.name)
    session.add(customer)
    _flush_unique(session, f"a customer named {body.name!r}")
    _audit(session, "customer.create", customer.id, actor, client, {"name": customer.name})
    return customer


def update_customer(
    session: Session, customer: Customer, body: CustomerUpdate, *, actor: User, client: ClientInfo
) -> Customer:
    if body.name is None:
        return customer
    before = customer.name
    customer.name = body.name
    customer.key = customer_key(body.name) or body.name
    session.add(customer)
    _flush_unique(session, f"a customer named {body.name!r}")
    _audit(session, "customer.update", customer.id, actor, client, {"name": [before, body.name]})
    return customer


def delete_customer(
    session: Session, customer: Customer, *, actor: User, client: ClientInfo
) -> None:
    """Only a customer no trip names: Ditat ingest would bring a loaded one straight back."""
    loads = session.scalar(select(func.count()).where(Trip.customer_id == customer.id)) or 0
    if loads:
        raise Conflict(f"customer {customer.id} is on {loads} trips; rename it instead")
    _audit(session, "customer.delete", customer.id, actor, client, {"name": customer.name})
    session.delete(customer)
    session.flush()


def get_contact(session: Session, customer: Customer, contact_id: int) -> CustomerContact:
    contact = session.get(CustomerContact, contact_id)
    if contact is None or contact.customer_id != customer.id:
        raise NotFound(f"contact {contact_id} of customer {customer.id} not found")
    return contact


def list_contacts(
    session: Session, customer: Customer, page: PageRequest
) -> Page[CustomerContactPublic]:
    stmt = select(CustomerContact).where(CustomerContact.customer_id == customer.id)
    order = order_by_clause(
        page.sort, CONTACT_SORTABLE, default="id", tie_breaker=CustomerContact.id
    )
    rows, total = fetch_page(session, stmt, page, order)
    return Page[CustomerContactPublic](
        items=[CustomerContactPublic.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


def create_contact(
    session: Session,
    customer: Customer,
    body: CustomerContactCreate,
    *,
    actor: User,
    client: ClientInfo,
) -> CustomerContact:
    contact = CustomerContact(customer_id=customer.id, **body.model_dump(mode="json"))
    session.add(contact)
    _flush_unique(session, f"a contact with email {body.email!r} at customer {customer.id}")
    details = {"contact_id": contact.id, "notices": contact.notices}
    _audit(session, "customer.contact_create", customer.id, actor, client, details)
    return contact


def update_contact(
    session: Session,
    contact: CustomerContact,
    body: CustomerContactUpdate,
    *,
    actor: User,
    client: ClientInfo,
) -> CustomerContact:
    changes = body.model_dump(mode="json", exclude_unset=True)
    for name, value in changes.items():
        setattr(contact, name, value)
    session.add(contact)
    _flush_unique(
        session, f"a contact with email {contact.email!r} at customer {contact.customer_id}"
    )
    # Which fields changed, never the addresses themselves: the audit trail is not a mailing list.
    details = {"contact_id": contact.id, "changed": sorted(changes)}
    if "notices" in changes:
        details["notices"] = contact.notices
    _audit(session, "customer.contact_update", contact.customer_id, actor, client, details)
    return contact


def delete_contact(
    session: Session, contact: CustomerContact, *, actor: User, client: ClientInfo
) -> None:
    details = {"contact_id": contact.id}
    _audit(session, "customer.contact_delete", contact.customer_id, actor, client, details)
    session.delete(contact)
    session.flush()


def _audit(
    session: Session,
    action: str,
    customer_id: int | None,
    actor: User,
    client: ClientInfo,
    details: dict,
) -> None:
    audit.record(
        session,
        action,
        actor=actor,
        resource_type="customer",
        resource_id=customer_id,
        details=details,
        client=client,
    )
