"""First-start agent profiles from settings, so a fresh local run can place calls at once.

`VAPI_ASSISTANT_ID` + `VAPI_PHONE_NUMBER_ID` (and the ElevenLabs pair) seed one `custom`-purpose
profile per provider — the fallback for every purpose — only while that provider has none;
after that, profiles are managed through `/call-agent-profiles` and settings are not read.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from config import Settings, get_settings
from models.call import CallProvider, CallPurpose
from models.call_agent_profile import CallAgentProfile


def seed_call_profiles(session: Session, settings: Settings | None = None) -> list[str]:
    """Names of the profiles created (none when every configured provider has one)."""
    settings = settings or get_settings()
    configured = {
        CallProvider.VAPI: (settings.VAPI_ASSISTANT_ID, settings.VAPI_PHONE_NUMBER_ID),
        CallProvider.ELEVENLABS: (
            settings.ELEVENLABS_AGENT_ID,
            settings.ELEVENLABS_PHONE_NUMBER_ID,
        ),
    }
    existing = set(session.scalars(select(CallAgentProfile.provider).distinct()))
    created = []
    for provider, (assistant_id, number_id) in configured.items():
        if not assistant_id or not number_id or provider.value in existing:
            continue
        name = f"{provider.value} default"
        session.add(
            CallAgentProfile(
                name=name,
                provider=provider.value,
                purpose=CallPurpose.CUSTOM.value,
                assistant_id=assistant_id,
                phone_number_id=number_id,
                prompt_version="v1",
            )
        )
        created.append(name)
    session.flush()
    return created
