"""A Spanish-speaking driver gets the Spanish agent profile (`es` next to `en`) and a `language`
variable; without a Spanish profile the English one serves."""

from __future__ import annotations

from datetime import UTC, datetime

from logic.calls.placement import CallRequest, prepare_call
from tests.factories import make_driver
from tests.factories_calls import make_agent_profile

NOON = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


def test_a_spanish_speaking_driver_gets_the_spanish_profile(session):
    english = make_agent_profile(session, provider="vapi")
    spanish = make_agent_profile(session, provider="vapi", language="es")
    rosa = make_driver(session, language="es-MX")
    jim = make_driver(session, phone="+12015550133")

    hers = prepare_call(session, CallRequest(driver_id=rosa.id, provider="vapi"), now=NOON)
    his = prepare_call(session, CallRequest(driver_id=jim.id, provider="vapi"), now=NOON)

    assert hers.agent_profile_id == spanish.id and hers.variables["language"] == "es"
    assert his.agent_profile_id == english.id and his.variables["language"] == "en"


def test_without_a_spanish_profile_the_english_one_serves(session):
    english = make_agent_profile(session, provider="elevenlabs")
    make_agent_profile(session, provider="elevenlabs", language="fr")
    rosa = make_driver(session, language="es")
    call = prepare_call(session, CallRequest(driver_id=rosa.id, provider="elevenlabs"), now=NOON)
    assert call.agent_profile_id == english.id
