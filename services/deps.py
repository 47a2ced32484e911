"""Typed dependencies shared by routers: the database session, the caller, permissions.

Contract other routers rely on:
- `SessionDep`: the request's session (committed at the boundary).
- `CurrentUser`: the authenticated, active `User` (401 with `WWW-Authenticate: Bearer` otherwise).
- `require_permission(Permission.X)`: a dependency returning the `User` or raising 403; use it as
  `_: Annotated[User, Depends(require_permission(Permission.TRIPS_READ))]` or via the ready
  aliases below (`_: TripsRead`). Superusers pass every check.
- `ServiceOrPermission(Permission.X)`: a dependency returning a `Caller`: the `X-API-Key` header
  matching `SERVICE_API_KEY` (constant-time) *or* a user JWT holding X. A wrong key is a 401; it
  never falls back to the token. Aliases: `IngestRunCaller`, `AlertsEvaluateCaller`, …
- `ClientDep`: the caller's IP and user agent, for audit rows (`logic.auth.audit.record`).

Declare the permission parameter *before* resource loaders (`def get_trip(_: TripsRead, trip:
TripDep)`): dependencies run in declaration order, and an unauthenticated caller must get 401,
never a 404 that reveals which ids exist. Every dependency that guards a route exposes
`.required_permission`; `tests/test_route_inventory.py` and `tests/test_rbac_matrix.py` read it to
check every route of both apps automatically.
"""

# No `from __future__ import annotations`: FastAPI before 0.123 reads the annotations of a
# class-instance dependency's `__call__` without the module's globals (they must be objects).

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlmodel import Session

from config import get_settings
from db.database import end_read, get_session, new_session
from helpers.errors import AppError, Forbidden, Unauthorized
from logic.auth import service
from logic.auth.audit import ClientInfo
from logic.auth.permissions import Permission
from logic.auth.security import constant_time_equals
from logic.auth.service import Principal
from models.user import User

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_request_session(request: Request) -> Iterator[Session]:
    """The request's session; any other method than a read takes SQLite's write lock with its
    first statement, so concurrent clicks queue instead of failing (db/database.py)."""
    yield from get_session(write=request.method not in READ_METHODS)


# scope="function": commit right after the endpoint returns, before the response is sent, so a
# failed commit is an error response and never a success that was lost (STYLE §4).
SessionDep = Annotated[Session, Depends(get_request_session, scope="function")]

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)
api_key_scheme = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="The service API key (`SERVICE_API_KEY`): scheduled jobs and Cloud Functions",
)


def get_auth_session() -> Iterator[Session]:
    """Like `get_session`, but a refused login still commits its bookkeeping.

    Failure counters, lockouts, rate-limit hits and audit rows are flushed before the refusal
    is raised; rolling them back would let an attacker guess forever.
    """
    with new_session(write=True) as session:
        try:
            yield session
            session.commit()
        except AppError:
            session.commit()
            raise
        except BaseException:
            session.rollback()
            raise


AuthSessionDep = Annotated[Session, Depends(get_auth_session, scope="function")]


async def get_client_info(request: Request) -> ClientInfo:
    # async: two header reads need no worker thread (a sync dependency costs a thread hop)
    return ClientInfo(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


ClientDep = Annotated[ClientInfo, Depends(get_client_info)]


def get_principal(
    session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    if not token:
        raise Unauthorized("not authenticated")
    principal = service.authenticate_access_token(session, token)
    end_read(session)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_auth_principal(
    session: AuthSessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    """The caller, loaded through the auth session (one connection per request, never two)."""
    if not token:
        raise Unauthorized("not authenticated")
    return service.authenticate_access_token(session, token)


AuthPrincipalDep = Annotated[Principal, Depends(get_auth_principal)]


async def get_current_user(principal: PrincipalDep) -> User:
    return principal.user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_permission(permission: Permission | str) -> Callable[..., object]:
    """A dependency that returns the caller if they hold `permission`, else raises 403."""
    required = Permission(permission)

    async def dependency(principal: PrincipalDep) -> User:
        if not principal.allows(required):
            raise Forbidden(f"requires permission {required.value}")
        return principal.user

    dependency.__name__ = f"require_{required.name.lower()}"
    dependency.required_permission = required  # type: ignore[attr-defined]
    return dependency


@dataclass(frozen=True)
class Caller:
    """Who is calling a service-or-user route: the service key, or a user."""

    user: User | None

    @property
    def is_service(self) -> bool:
        return self.user is None

    @property
    def label(self) -> str:
        return "service" if self.user is None else self.user.username


class ServiceOrPermission:
    """Dependency: the service API key (`X-API-Key`) or a user JWT holding `permission`."""

    def __init__(self, permission: Permission | str) -> None:
        self.required_permission = Permission(permission)

    def __call__(
        self,
        session: SessionDep,
        api_key: Annotated[str | None, Security(api_key_scheme)],
        token: Annotated[str | None, Depends(oauth2_scheme)],
    ) -> Caller:
        if api_key is not None:
            expected = get_settings().SERVICE_API_KEY.get_secret_value()
            # An unset key must never match an empty header.
            if expected and constant_time_equals(api_key, expected):
                return Caller(user=None)
            raise Unauthorized("invalid API key")
        if not token:
            raise Unauthorized("not authenticated")
        principal = service.authenticate_access_token(session, token)
        end_read(session)
        if not principal.allows(self.required_permission):
            raise Forbidden(f"requires permission {self.required_permission.value}")
        return Caller(user=principal.user)

    def __repr__(self) -> str:
        return f"ServiceOrPermission({self.required_permission.value!r})"


# Ready aliases: `def list_trips(session: SessionDep, _: TripsRead) -> ...`.
DriversRead = Annotated[User, Depends(require_permission(Permission.DRIVERS_READ))]
DriversWrite = Annotated[User, Depends(require_permission(Permission.DRIVERS_WRITE))]
VehiclesRead = Annotated[User, Depends(require_permission(Permission.VEHICLES_READ))]
VehiclesWrite = Annotated[User, Depends(require_permission(Permission.VEHICLES_WRITE))]
TripsRead = Annotated[User, Depends(require_permission(Permission.TRIPS_READ))]
TripsWrite = Annotated[User, Depends(require_permission(Permission.TRIPS_WRITE))]
LocationsRead = Annotated[User, Depends(require_permission(Permission.LOCATIONS_READ))]
HosRead = Annotated[User, Depends(require_permission(Permission.HOS_READ))]
SafetyRead = Annotated[User, Depends(require_permission(Permission.SAFETY_READ))]
SafetyWrite = Annotated[User, Depends(require_permission(Permission.SAFETY_WRITE))]
RoutingRead = Annotated[User, Depends(require_permission(Permission.ROUTING_READ))]
WeatherRead = Annotated[User, Depends(require_permission(Permission.WEATHER_READ))]
CustomersRead = Annotated[User, Depends(require_permission(Permission.CUSTOMERS_READ))]
CustomersWrite = Annotated[User, Depends(require_permission(Permission.CUSTOMERS_WRITE))]
DashboardRead = Annotated[User, Depends(require_permission(Permission.DASHBOARD_READ))]
AlertsRead = Annotated[User, Depends(require_permission(Permission.ALERTS_READ))]
AlertsWrite = Annotated[User, Depends(require_permission(Permission.ALERTS_WRITE))]
AlertsEvaluate = Annotated[User, Depends(require_permission(Permission.ALERTS_EVALUATE))]
AlertRulesRead = Annotated[User, Depends(require_permission(Permission.ALERT_RULES_READ))]
AlertRulesWrite = Annotated[User, Depends(require_permission(Permission.ALERT_RULES_WRITE))]
CallsRead = Annotated[User, Depends(require_permission(Permission.CALLS_READ))]
CallsPlace = Annotated[User, Depends(require_permission(Permission.CALLS_PLACE))]
CallsAdmin = Annotated[User, Depends(require_permission(Permission.CALLS_ADMIN))]
CampaignsRead = Annotated[User, Depends(require_permission(Permission.CAMPAIGNS_READ))]
CampaignsWrite = Annotated[User, Depends(require_permission(Permission.CAMPAIGNS_WRITE))]
ReportsRead = Annotated[User, Depends(require_permission(Permission.REPORTS_READ))]
ReportsGenerate = Annotated[User, Depends(require_permission(Permission.REPORTS_GENERATE))]
IngestRead = Annotated[User, Depends(require_permission(Permission.INGEST_READ))]
IngestRun = Annotated[User, Depends(require_permission(Permission.INGEST_RUN))]
AdminUsers = Annotated[User, Depends(require_permission(Permission.ADMIN_USERS))]
AdminRoles = Annotated[User, Depends(require_permission(Permission.ADMIN_ROLES))]
AdminSessions = Annotated[User, Depends(require_permission(Permission.ADMIN_SESSIONS))]
AdminAudit = Annotated[User, Depends(require_permission(Permission.ADMIN_AUDIT))]

# Service key or user: scheduled jobs, the ingest trigger, Cloud Functions.
IngestRunCaller = Annotated[Caller, Depends(ServiceOrPermission(Permission.INGEST_RUN))]
AlertsEvaluateCaller = Annotated[Caller, Depends(ServiceOrPermission(Permission.ALERTS_EVALUATE))]
ReportsGenerateCaller = Annotated[Caller, Depends(ServiceOrPermission(Permission.REPORTS_GENERATE))]
CampaignsWriteCaller = Annotated[Caller, Depends(ServiceOrPermission(Permission.CAMPAIGNS_WRITE))]
CallsPlaceCaller = Annotated[Caller, Depends(ServiceOrPermission(Permission.CALLS_PLACE))]
WarehouseExportCaller = Annotated[Caller, Depends(ServiceOrPermission(Permission.WAREHOUSE_EXPORT))]
CallsAdminCaller = Annotated[Caller, Depends(ServiceOrPermission(Permission.CALLS_ADMIN))]
