"""Writing audit rows: who did what to which resource, from where.

Rows are added to the caller's session, so an admin mutation and its audit row commit or roll
back together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from models.audit_log import AuditLog
from models.user import User


@dataclass(frozen=True)
class ClientInfo:
    """Where a request came from, as recorded on sessions and audit rows."""

    ip: str | None = None
    user_agent: str | None = None


def record(
    session: Session,
    action: str,
    *,
    actor: User | None = None,
    actor_label: str | None = None,
    resource_type: str | None = None,
    resource_id: object | None = None,
    details: dict[str, Any] | None = None,
    client: ClientInfo | None = None,
) -> AuditLog:
    client = client or ClientInfo()
    row = AuditLog(
        actor_user_id=actor.id if actor else None,
        actor_username=actor.username if actor else actor_label,
        action=action,
        resource_type=resource_type,
        resource_id=None if resource_id is None else str(resource_id),
        details=details or {},
        ip_address=(client.ip or None) and client.ip[:64],
        user_agent=(client.user_agent or None) and client.user_agent[:512],
    )
    session.add(row)
    return row
