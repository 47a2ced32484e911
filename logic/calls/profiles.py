"""First-start agent profiles from settings, so a fresh local run can place calls at once.

Each registered provider's settings pair (`VAPI_ASSISTANT_ID` + `VAPI_PHONE_NUMBER_ID`, the
ElevenLabs pair, …) seeds one `custom`-purpose profile — the fallback for every purpose — only
while that provider has none; after that, profiles are managed through `/call-agent-profiles`
and settings are not read.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from config import Settings, get_settings
from logic.calls.voice.registry import provider_kind, provider_names
from models.call import CallPurpose
from models.call_agent_profile import CallAgentProfile


def seed_call_profiles(session: Session, settings: Settings | None = None) -> list[str]:
    """Names of the profiles created (none when every configured provider has one)."""
    settings = settings or get_settings()
    existing = set(session.scalars(select(CallAgentProfile.provider).distinct()))
    created = []
    for provider in provider_names():
        agent = provider_kind(provider)(settings).default_agent()
        if agent is None or provider in existing:
            continue
        assistant_id, number_id = agent
        name = f"{provider} default"
        session.add(
            CallAgentProfile(
                name=name,
                provider=provider,
                purpose=CallPurpose.CUSTOM.value,
                assistant_id=assistant_id,
                phone_number_id=number_id,
                prompt_version="v1",
            )
        )
        created.append(name)
    session.flush()
    return created
