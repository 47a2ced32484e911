"""Customers and their contacts (who gets which notices about their loads): paginated lists,
create, rename, delete; every change is audited."""

from __future__ import annotations

from fastapi import APIRouter, Response

from logic.customers import directory
from logic.listing import Page
from models.customer import (
    CustomerContactCreate,
    CustomerContactPublic,
    CustomerContactUpdate,
    CustomerCreate,
    CustomerPublic,
    CustomerUpdate,
)
from services.deps import ClientDep, CustomersRead, CustomersWrite, SessionDep
from services.openapi import error_responses
from services.pagination import PageDep, SearchQuery

router = APIRouter(prefix="/customers", tags=["customers"])


@router.get("")
def list_customers(
    session: SessionDep, _: CustomersRead, page: PageDep, q: SearchQuery = None
) -> Page[CustomerPublic]:
    """Customers by name (`q` searches the name)."""
    return directory.list_customers(session, page, q)


@router.post("", status_code=201, responses=error_responses(409))
def create_customer(
    body: CustomerCreate, session: SessionDep, user: CustomersWrite, client: ClientDep
) -> CustomerPublic:
    """Add a customer (Ditat ingest adds the ones its loads name); 409 if the name exists."""
    customer = directory.create_customer(session, body, actor=user, client=client)
    return CustomerPublic.model_validate(customer)


@router.get("/{customer_id}")
def get_customer(customer_id: int, session: SessionDep, _: CustomersRead) -> CustomerPublic:
    """One customer."""
    return CustomerPublic.model_validate(directory.get_customer(session, customer_id))


@router.patch("/{customer_id}", responses=error_responses(409))
def update_customer(
    customer_id: int,
    body: CustomerUpdate,
    session: SessionDep,
    user: CustomersWrite,
    client: ClientDep,
) -> CustomerPublic:
    """Correct a customer's name; 409 if another customer has it."""
    customer = directory.get_customer(session, customer_id)
    customer = directory.update_customer(session, customer, body, actor=user, client=client)
    return CustomerPublic.model_validate(customer)


@router.delete("/{customer_id}", status_code=204, responses=error_responses(409))
def delete_customer(
    customer_id: int, session: SessionDep, user: CustomersWrite, client: ClientDep
) -> Response:
    """Delete a customer no trip names (409 otherwise), with its contacts."""
    customer = directory.get_customer(session, customer_id)
    directory.delete_customer(session, customer, actor=user, client=client)
    return Response(status_code=204)


@router.get("/{customer_id}/contacts")
def list_contacts(
    customer_id: int, session: SessionDep, _: CustomersRead, page: PageDep
) -> Page[CustomerContactPublic]:
    """The customer's contacts and the notices each wants."""
    return directory.list_contacts(session, directory.get_customer(session, customer_id), page)


@router.post("/{customer_id}/contacts", status_code=201, responses=error_responses(409))
def create_contact(
    customer_id: int,
    body: CustomerContactCreate,
    session: SessionDep,
    user: CustomersWrite,
    client: ClientDep,
) -> CustomerContactPublic:
    """Add a contact (default: every notice); 409 if the customer has that email already."""
    customer = directory.get_customer(session, customer_id)
    contact = directory.create_contact(session, customer, body, actor=user, client=client)
    return CustomerContactPublic.model_validate(contact)


@router.patch("/{customer_id}/contacts/{contact_id}", responses=error_responses(409))
def update_contact(
    customer_id: int,
    contact_id: int,
    body: CustomerContactUpdate,
    session: SessionDep,
    user: CustomersWrite,
    client: ClientDep,
) -> CustomerContactPublic:
    """Change a contact's name, email or notices."""
    customer = directory.get_customer(session, customer_id)
    contact = directory.get_contact(session, customer, contact_id)
    contact = directory.update_contact(session, contact, body, actor=user, client=client)
    return CustomerContactPublic.model_validate(contact)


@router.delete("/{customer_id}/contacts/{contact_id}", status_code=204)
def delete_contact(
    customer_id: int,
    contact_id: int,
    session: SessionDep,
    user: CustomersWrite,
    client: ClientDep,
) -> Response:
    """Remove a contact: no more notices to them."""
    customer = directory.get_customer(session, customer_id)
    directory.delete_contact(
        session, directory.get_contact(session, customer, contact_id), actor=user, client=client
    )
    return Response(status_code=204)
