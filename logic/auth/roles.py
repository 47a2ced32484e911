"""Default roles and their permissions, seeded idempotently at startup."""

from sqlmodel import Session


def seed_default_roles(session: Session) -> None:
    """Placeholder until the auth models land."""
