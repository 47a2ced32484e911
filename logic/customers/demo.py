"""The demo's customer contacts: one per customer, wanting every notice, at an address the
sandbox mailbox receives (`hub seed-demo` on a sandbox stack only; Ditat carries no contacts).

Idempotent: a customer that has any contact is left alone.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlmodel import Session

from models.customer import ALL_NOTICES, Customer, CustomerContact

DEMO_DOMAIN = "example.com"


def demo_email(customer: Customer) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", customer.key).strip("-") or f"customer-{customer.id}"
    return f"loads+{slug}@{DEMO_DOMAIN}"


def add_demo_contacts(session: Session) -> int:
    """A "Load desk" contact for each customer with none; returns how many were added."""
    has_contact = select(CustomerContact.customer_id).distinct()
    bare = session.scalars(select(Customer).where(Customer.id.notin_(has_contact)))
    added = 0
    for customer in bare:
        session.add(
            CustomerContact(
                customer_id=customer.id,
                name=f"{customer.name} load desk",
                email=demo_email(customer),
                notices=list(ALL_NOTICES),
            )
        )
        added += 1
    session.flush()
    return added
