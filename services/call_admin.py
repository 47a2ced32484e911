"""Call administration: agent profiles (`/call-agent-profiles`) and do-not-call entries
(`/do-not-call`). Reading needs calls:read; every change needs calls:admin and is audited."""

from __future__ import annotations

from fastapi import APIRouter, Response

from logic.calls import queries
from logic.calls.voice.registry import require_provider
from models.call_agent_profile import (
    CallAgentProfileCreate,
    CallAgentProfilePublic,
    CallAgentProfilesPage,
    CallAgentProfileUpdate,
)
from models.do_not_call import DoNotCallCreate, DoNotCallPage, DoNotCallPublic, DoNotCallUpdate
from services.deps import CallsAdmin, CallsRead, ClientDep, SessionDep
from services.pagination import PageDep

profiles_router = APIRouter(prefix="/call-agent-profiles", tags=["calls"])
do_not_call_router = APIRouter(prefix="/do-not-call", tags=["calls"])


@profiles_router.get("")
def list_profiles(session: SessionDep, _: CallsRead, page: PageDep) -> CallAgentProfilesPage:
    """Agent profiles: provider assistant/agent, caller-id number, purpose, limits."""
    return queries.list_profiles(session, page)


@profiles_router.post("", status_code=201)
def create_profile(
    body: CallAgentProfileCreate, session: SessionDep, user: CallsAdmin, client: ClientDep
) -> CallAgentProfilePublic:
    """Add an agent profile; names are unique."""
    require_provider(body.provider, loc=("body", "provider"))
    profile = queries.create_profile(session, body, actor=user, client=client)
    return CallAgentProfilePublic.model_validate(profile)


@profiles_router.get("/{profile_id}")
def get_profile(_: CallsRead, session: SessionDep, profile_id: int) -> CallAgentProfilePublic:
    """One agent profile."""
    return CallAgentProfilePublic.model_validate(queries.get_profile(session, profile_id))


@profiles_router.patch("/{profile_id}")
def update_profile(
    user: CallsAdmin,
    session: SessionDep,
    client: ClientDep,
    profile_id: int,
    body: CallAgentProfileUpdate,
) -> CallAgentProfilePublic:
    """Change an agent profile (disable it to stop new calls using it)."""
    profile = queries.update_profile(session, profile_id, body, actor=user, client=client)
    return CallAgentProfilePublic.model_validate(profile)


@profiles_router.delete("/{profile_id}", status_code=204)
def delete_profile(
    user: CallsAdmin, session: SessionDep, client: ClientDep, profile_id: int
) -> Response:
    """Delete an agent profile; calls placed with it keep their record."""
    queries.delete_profile(session, profile_id, actor=user, client=client)
    return Response(status_code=204)


@do_not_call_router.get("")
def list_do_not_call(
    session: SessionDep, _: CallsRead, page: PageDep, driver_id: int | None = None
) -> DoNotCallPage:
    """Do-not-call entries (drivers or numbers), newest first."""
    return queries.list_do_not_call(session, page, driver_id=driver_id)


@do_not_call_router.post("", status_code=201)
def add_do_not_call(
    body: DoNotCallCreate, session: SessionDep, user: CallsAdmin, client: ClientDep
) -> DoNotCallPublic:
    """Stop calls to a driver or a number, for good or until a time."""
    entry = queries.add_do_not_call(session, body, actor=user, client=client)
    return DoNotCallPublic.model_validate(entry)


@do_not_call_router.get("/{entry_id}")
def get_do_not_call(_: CallsRead, session: SessionDep, entry_id: int) -> DoNotCallPublic:
    """One do-not-call entry."""
    return DoNotCallPublic.model_validate(queries.get_do_not_call(session, entry_id))


@do_not_call_router.patch("/{entry_id}")
def update_do_not_call(
    user: CallsAdmin, session: SessionDep, client: ClientDep, entry_id: int, body: DoNotCallUpdate
) -> DoNotCallPublic:
    """Change a do-not-call entry's reason or end time."""
    entry = queries.update_do_not_call(session, entry_id, body, actor=user, client=client)
    return DoNotCallPublic.model_validate(entry)


@do_not_call_router.delete("/{entry_id}", status_code=204)
def remove_do_not_call(
    user: CallsAdmin, session: SessionDep, client: ClientDep, entry_id: int
) -> Response:
    """Remove a do-not-call entry."""
    queries.remove_do_not_call(session, entry_id, actor=user, client=client)
    return Response(status_code=204)
