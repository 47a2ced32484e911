"""A Spanish-speaking driver gets the Spanish agent profile (`es` next to `en`), the Spanish
prompt and a `language` variable; without a Spanish profile the English one serves."""

from __future__ import annotations

from datetime import UTC, datetime

from config import Settings
from logic.calls.placement import CallRequest, prepare_call, preview_call
from logic.calls.prompts import PLACEHOLDER, template_for
from models.call import CallPurpose
from services.vendor_deps import current_settings
from tests.factories import make_driver, make_violation
from tests.factories_calls import make_agent_profile

NOON = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


def test_a_spanish_speaking_driver_hears_dates_and_times_in_spanish(session):
    """Babel's Spanish names and "p. m." for her; an English driver's times stay as they were."""
    # Tuesday 1 December 2026, 20:05 UTC = 2:05 PM in Chicago (CST): two days before NOON.
    moment = datetime(2026, 12, 1, 20, 5, tzinfo=UTC)
    rosa = make_driver(session, language="es-MX")
    jim = make_driver(session, phone="+12015550133")
    for driver in (rosa, jim):
        make_violation(session, driver=driver, started_at=moment)
    coaching = CallPurpose.VIOLATION_COACHING

    hers = preview_call(session, CallRequest(driver_id=rosa.id, purpose=coaching), now=NOON)
    his = preview_call(session, CallRequest(driver_id=jim.id, purpose=coaching), now=NOON)

    assert hers["variables"]["violation_time"] == "martes 1 de diciembre, 2:05 p. m. CST"
    assert "el martes 1 de diciembre, 2:05 p. m. CST" in hers["system_prompt"]
    assert his["variables"]["violation_time"] == "Tue 2:05 PM CST"
    assert "Tue 2:05 PM CST" in his["system_prompt"]


def test_what_is_not_known_is_said_in_the_drivers_language(session):
    """A driver with no trip and no violation: the Spanish prompt says "desconocido" and
    "ninguna registrada", never the English words; the English one keeps them."""
    rosa = make_driver(session, language="es")
    jim = make_driver(session, phone="+12015550134")
    coaching = CallPurpose.VIOLATION_COACHING

    hers = preview_call(session, CallRequest(driver_id=rosa.id, purpose=coaching), now=NOON)
    his = preview_call(session, CallRequest(driver_id=jim.id, purpose=coaching), now=NOON)

    said = hers["variables"]
    assert said["truck"] == said["violation_time"] == said["next_stop"] == "desconocido"
    assert said["violation_type"] == "ninguna registrada"
    assert "unknown" not in hers["system_prompt"] + hers["first_message"]
    assert "none on record" not in hers["system_prompt"]
    assert his["variables"]["truck"] == his["variables"]["next_stop"] == "unknown"
    assert his["variables"]["violation_type"] == "none on record"


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


def test_every_purpose_has_a_spanish_prompt_in_spanish():
    for purpose in CallPurpose:
        english, spanish = template_for(purpose, "en"), template_for(purpose, "es-MX")
        assert spanish.version == english.version.replace(".v", ".es.v")
        assert spanish.first_message.startswith("Hola {{ driver_first_name }}")
        assert "Habla en español" in spanish.system_prompt
        # The same facts reach the agent in either language.
        assert set(PLACEHOLDER.findall(spanish.system_prompt)) == set(
            PLACEHOLDER.findall(english.system_prompt)
        )
        assert not {"Ask", "the driver", "minute"} & set(spanish.system_prompt.split())
    assert template_for("custom", "fr") == template_for("custom", "en")


def test_a_spanish_speaking_driver_is_called_with_the_spanish_profile_and_prompt(
    client, session, main_app, sandbox_clean, auth_headers
):
    settings = Settings(
        **sandbox_clean.settings_env(), CALL_WINDOW_START="00:00", CALL_WINDOW_END="00:00"
    )
    main_app.dependency_overrides[current_settings] = lambda: settings
    english = make_agent_profile(session, provider="vapi", purpose="custom")
    spanish = make_agent_profile(session, provider="vapi", purpose="custom", language="es")
    rosa = make_driver(session, first_name="Rosa", language="es-MX")
    jim = make_driver(session, first_name="Jim", phone="+12015550133")
    headers = auth_headers("dispatcher")
    try:
        hers = client.get(
            "/calls/preview",
            params={"driver_id": rosa.id, "purpose": "custom", "provider": "vapi"},
            headers=headers,
        ).json()
        his = client.get(
            "/calls/preview",
            params={"driver_id": jim.id, "purpose": "custom", "provider": "vapi"},
            headers=headers,
        ).json()
        placed = client.post(
            "/calls", json={"driver_id": rosa.id, "provider": "vapi"}, headers=headers
        )
    finally:
        main_app.dependency_overrides.pop(current_settings, None)

    assert hers["agent_profile_id"] == spanish.id and hers["prompt_version"] == "custom.es.v1"
    assert hers["first_message"].startswith("Hola Rosa, le habla el asistente automatizado")
    assert "Habla en español" in hers["system_prompt"] and "{{" not in hers["system_prompt"]
    assert his["agent_profile_id"] == english.id and his["prompt_version"] == "custom.v1"
    assert his["first_message"].startswith("Hi Jim")
    # The placed call goes to the Spanish agent, saying which language to speak.
    assert placed.status_code == 201, placed.text
    [create] = [r for r in sandbox_clean.requests("vapi") if r["method"] == "POST"]
    assert create["json"]["assistantId"] == spanish.assistant_id
    assert create["json"]["assistantOverrides"]["variableValues"]["language"] == "es"
