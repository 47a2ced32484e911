"""The audit trail (`/admin/audit-logs`): filtered, paginated, and exported as CSV."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from helpers.time_utils import make_timezone_aware
from logic.auth import users as logic
from logic.auth.users import Actor, AuditFilter
from logic.listing import check_range
from models.api_fields import ApiDateTime
from models.audit_log import AuditLogPage, AuditLogPublic
from services.deps import AdminAudit, ClientDep, SessionDep
from services.pagination import MAX_OFFSET

router = APIRouter(prefix="/admin/audit-logs", tags=["admin"])


def audit_filter(
    actor_user_id: int | None = None,
    actor: Annotated[str | None, Query(max_length=254, description="actor username")] = None,
    action: Annotated[
        str | None, Query(max_length=64, description="exact action, or a prefix ending in '.'")
    ] = None,
    resource_type: Annotated[str | None, Query(max_length=64)] = None,
    resource_id: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[ApiDateTime | None, Query(description="inclusive; naive = UTC")] = None,
    until: Annotated[ApiDateTime | None, Query(description="exclusive; naive = UTC")] = None,
) -> AuditFilter:
    since = make_timezone_aware(since) if since else None
    until = make_timezone_aware(until) if until else None
    check_range(since, until, what="since/until", loc=("query", "until"))
    return AuditFilter(
        actor_user_id=actor_user_id,
        actor=actor,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        since=since,
        until=until,
    )


AuditFilterDep = Annotated[AuditFilter, Depends(audit_filter)]


@router.get("")
def list_audit_logs(
    session: SessionDep,
    _: AdminAudit,
    filters: AuditFilterDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> AuditLogPage:
    """Audit rows, newest first, filtered by actor, action, resource and time range."""
    rows, total, limit, offset = logic.list_audit(session, filters, limit=limit, offset=offset)
    items = [AuditLogPublic.model_validate(row, from_attributes=True) for row in rows]
    return AuditLogPage(items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/export",
    response_class=Response,
    responses={
        200: {
            "description": "The audit rows as CSV, one header line first",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
def export_audit_logs(
    session: SessionDep, admin: AdminAudit, client: ClientDep, filters: AuditFilterDep
) -> Response:
    """The filtered audit rows as a CSV download (the export itself is audited)."""
    body = logic.export_audit_csv(session, filters)
    logic.record_export(session, Actor(admin, client), filters)
    return Response(
        content=body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit-log.csv"'},
    )
