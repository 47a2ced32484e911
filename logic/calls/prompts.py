"""Versioned call prompts, one per purpose and language (`en`, `es`), and the variables every
provider receives.

Templates use `{{ name }}` placeholders (LiquidJS syntax, which VAPI and ElevenLabs both
substitute), so the text rendered by `GET /calls/preview` is what the agent says. The same
variable map goes to VAPI `assistantOverrides.variableValues` and to ElevenLabs
`dynamic_variables`; values are scalars (ElevenLabs refuses anything else) and `hub_call_id`
correlates every webhook with our row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from logic.fleet.driver_data import DriverData
from models.call import CallPurpose

Scalar = str | int | float | bool
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


@dataclass(frozen=True)
class PromptTemplate:
    purpose: CallPurpose
    version: str
    first_message: str
    system_prompt: str


_IDENTITY = (
    "You are the fleet safety desk's voice assistant calling truck driver {{ driver_first_name }} "
    "(truck {{ truck }}). Say at the start that you are an automated assistant from the fleet "
    "desk, keep the call under three minutes, never ask the driver to use the phone while "
    "driving, and end the call politely if they are driving and cannot talk. "
)

TEMPLATES: dict[CallPurpose, PromptTemplate] = {
    CallPurpose.LATE_LOAD_CHECK: PromptTemplate(
        purpose=CallPurpose.LATE_LOAD_CHECK,
        version="late_load_check.v1",
        first_message=(
            "Hi {{ driver_first_name }}, this is the automated assistant from the fleet desk "
            "about load {{ load_id }}. Do you have a minute?"
        ),
        system_prompt=_IDENTITY
        + "Load {{ load_id }} is due at {{ next_stop }} for the {{ next_appointment }} "
        "appointment; our ETA is {{ eta }}. Ask whether they are on schedule, how many minutes "
        "late they expect to be, why (breakdown, weather, traffic, shipper or receiver delay, "
        "hours of service, health) and where they are now. Confirm the new ETA.",
    ),
    CallPurpose.VIOLATION_COACHING: PromptTemplate(
        purpose=CallPurpose.VIOLATION_COACHING,
        version="violation_coaching.v1",
        first_message=(
            "Hi {{ driver_first_name }}, this is the automated assistant from the fleet desk "
            "with a quick safety check-in. Is now a good time?"
        ),
        system_prompt=_IDENTITY
        + "The ELD recorded a {{ violation_type }} at {{ violation_time }} lasting "
        "{{ violation_duration }}. Explain it without blame, ask what happened, ask the driver "
        "to acknowledge it, and note anything they need from the safety team.",
    ),
    CallPurpose.HOS_CHECK: PromptTemplate(
        purpose=CallPurpose.HOS_CHECK,
        version="hos_check.v1",
        first_message=(
            "Hi {{ driver_first_name }}, this is the automated assistant from the fleet desk "
            "checking on your hours. Do you have a minute?"
        ),
        system_prompt=_IDENTITY
        + "They have {{ drive_time_left }} of drive time left and the next stop is "
        "{{ next_stop }} ({{ next_appointment }}). Ask where they plan to take their break, "
        "whether they will make the appointment, and if anything is slowing them down.",
    ),
    CallPurpose.FACILITY_CHECK: PromptTemplate(
        purpose=CallPurpose.FACILITY_CHECK,
        version="facility_check.v1",
        first_message=(
            "Hi {{ driver_first_name }}, this is the automated assistant from the fleet desk "
            "about load {{ load_id }} at {{ facility }}. Do you have a minute?"
        ),
        system_prompt=_IDENTITY
        + "Our GPS shows the truck at {{ facility }} since {{ arrived }} ({{ held_for }}), past "
        "the free time. Ask what the hold-up is (not loaded or unloaded yet, waiting for a "
        "door, paperwork, waiting on a lumper, product not ready, a problem with the load), "
        "whether the facility gave a time they will be done, and whether the driver checked "
        "in on time. Say dispatch will use it for the detention claim.",
    ),
    CallPurpose.CUSTOM: PromptTemplate(
        purpose=CallPurpose.CUSTOM,
        version="custom.v1",
        first_message=(
            "Hi {{ driver_first_name }}, this is the automated assistant from the fleet desk. "
            "Do you have a minute?"
        ),
        system_prompt=_IDENTITY
        + "Check in about load {{ load_id }} (next stop {{ next_stop }}, ETA {{ eta }}) and "
        "ask whether they need anything from dispatch.",
    ),
}


_IDENTITY_ES = (
    "Eres el asistente de voz del equipo de seguridad de la flota y llamas al conductor "
    "{{ driver_first_name }} (camión {{ truck }}). Habla en español y trátalo de usted. Al "
    "empezar, di que eres un asistente automatizado del equipo de la flota, mantén la llamada "
    "por debajo de tres minutos, nunca le pidas que use el teléfono mientras maneja y termina "
    "la llamada con cortesía si está manejando y no puede hablar. "
)
_HELLO_ES = (
    "Hola {{ driver_first_name }}, le habla el asistente automatizado del equipo de la flota"
)

SPANISH: dict[CallPurpose, PromptTemplate] = {
    CallPurpose.LATE_LOAD_CHECK: PromptTemplate(
        purpose=CallPurpose.LATE_LOAD_CHECK,
        version="late_load_check.es.v1",
        first_message=_HELLO_ES + " sobre la carga {{ load_id }}. ¿Tiene un minuto?",
        system_prompt=_IDENTITY_ES
        + "La carga {{ load_id }} debe llegar a {{ next_stop }} para la cita de "
        "{{ next_appointment }}; nuestra hora estimada de llegada es {{ eta }}. Pregunta si va a "
        "tiempo, cuántos minutos de retraso espera, por qué (avería, clima, tráfico, demora del "
        "cargador o del receptor, horas de servicio, salud) y dónde está ahora. Confirma la "
        "nueva hora de llegada.",
    ),
    CallPurpose.VIOLATION_COACHING: PromptTemplate(
        purpose=CallPurpose.VIOLATION_COACHING,
        version="violation_coaching.es.v1",
        first_message=_HELLO_ES + " para una breve revisión de seguridad. ¿Es buen momento?",
        system_prompt=_IDENTITY_ES
        + "El ELD registró una infracción ({{ violation_type }}) el {{ violation_time }} con "
        "una duración de {{ violation_duration }}. Explícala sin culpar, pregunta qué pasó, "
        "pide al conductor que la reconozca y anota lo que necesite del equipo de seguridad.",
    ),
    CallPurpose.HOS_CHECK: PromptTemplate(
        purpose=CallPurpose.HOS_CHECK,
        version="hos_check.es.v1",
        first_message=_HELLO_ES + " para revisar sus horas de servicio. ¿Tiene un minuto?",
        system_prompt=_IDENTITY_ES
        + "Le quedan {{ drive_time_left }} de manejo y la próxima parada es {{ next_stop }} "
        "({{ next_appointment }}). Pregunta dónde piensa tomar su descanso, si llegará a la "
        "cita y si algo lo está retrasando.",
    ),
    CallPurpose.FACILITY_CHECK: PromptTemplate(
        purpose=CallPurpose.FACILITY_CHECK,
        version="facility_check.es.v1",
        first_message=_HELLO_ES
        + " sobre la carga {{ load_id }} en {{ facility }}. ¿Tiene un minuto?",
        system_prompt=_IDENTITY_ES
        + "Nuestro GPS muestra el camión en {{ facility }} desde {{ arrived }} ({{ held_for }}), "
        "más allá del tiempo libre. Pregunta cuál es la demora (aún sin cargar o descargar, "
        "esperando un andén, papeleo, esperando a un descargador, producto no listo, un "
        "problema con la carga), si la instalación le dio una hora para terminar y si el "
        "conductor se registró a tiempo. Di que despacho lo usará para el reclamo de detención.",
    ),
    CallPurpose.CUSTOM: PromptTemplate(
        purpose=CallPurpose.CUSTOM,
        version="custom.es.v1",
        first_message=_HELLO_ES + ". ¿Tiene un minuto?",
        system_prompt=_IDENTITY_ES
        + "Pregunta por la carga {{ load_id }} (próxima parada {{ next_stop }}, llegada "
        "estimada {{ eta }}) y si necesita algo de despacho.",
    ),
}
# Templates by language (primary subtag); any other language is spoken from the English ones.
TEMPLATES_BY_LANGUAGE: dict[str, dict[CallPurpose, PromptTemplate]] = {
    "en": TEMPLATES,
    "es": SPANISH,
}


def template_for(purpose: CallPurpose | str, language: str | None = "en") -> PromptTemplate:
    """The purpose's template in `language` (`es` for `es-MX`), English when there is none."""
    spoken = (language or "en").split("-")[0].lower()
    return TEMPLATES_BY_LANGUAGE.get(spoken, TEMPLATES)[CallPurpose(purpose)]


@dataclass(frozen=True)
class RenderedPrompt:
    purpose: str
    version: str
    first_message: str
    system_prompt: str
    variables: dict[str, Scalar]


# How a moment is spoken, by language: Babel's CLDR patterns (month and day names, "p. m."),
# then the zone's abbreviation (CLDR has no Spanish "CST"; drivers know the English one).
SPOKEN_MOMENT = {"es": "EEEE d 'de' MMMM, h:mm a"}


# The words the variables say themselves, by language ("h" and "min" read the same in both).
WORDS = {
    "en": {"unknown": "unknown", "none": "none on record", "hello_to": "there", "in": "in"},
    "es": {
        "unknown": "desconocido",
        "none": "ninguna registrada",
        "hello_to": "conductor",
        "in": "en",
    },
}


def _words(language: str | None) -> dict[str, str]:
    return WORDS.get(language or "en", WORDS["en"])


def _local(moment: datetime | None, zone: ZoneInfo, language: str = "en") -> str:
    if moment is None:
        return _words(language)["unknown"]
    local = moment.astimezone(zone)
    pattern = SPOKEN_MOMENT.get(language)
    if pattern is None:
        return local.strftime("%a %I:%M %p %Z").replace(" 0", " ")
    spoken = format_datetime(local, pattern, tzinfo=zone, locale=language)
    # CLDR separates "p. m." with (narrow) no-break spaces; the agent reads plain text.
    return f"{' '.join(spoken.split())} {local:%Z}"


def _minutes(value: int | None, language: str = "en") -> str:
    if value is None:
        return _words(language)["unknown"]
    hours, minutes = divmod(int(value), 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def call_variables(data: DriverData, *, timezone: str) -> dict[str, Scalar]:
    """Prompt variables from `driver_data`, times in the driver's zone; missing facts say so."""
    zone = ZoneInfo(timezone)
    driver = data.driver
    language = (driver.language or "en").split("-")[0].lower()
    trip = data.current_trip
    stop = trip.next_stop if trip else None
    held = trip.current_stop if trip else None
    visit = held.visits[0] if held and held.visits else None
    violation = data.recent_violations[0] if data.recent_violations else None
    eta = (stop.eta if stop else None) or (trip.eta_next_stop if trip else None)
    words = _words(language)
    unknown = words["unknown"]
    return {
        "driver_first_name": driver.first_name or words["hello_to"],
        "driver_name": driver.full_name or words["hello_to"],
        "truck": (trip.vehicle.unit_number if trip and trip.vehicle else None) or unknown,
        "load_id": (trip.load_number or trip.ditat_id or str(trip.id)) if trip else unknown,
        "next_stop": (_stop_label(stop, language) if stop else None) or unknown,
        "next_stop_city": (stop.city if stop else None) or unknown,
        "next_appointment": _local(stop.appointment_start if stop else None, zone, language),
        "eta": _local(eta, zone, language),
        "violation_type": violation.violation_type if violation else words["none"],
        "violation_time": _local(violation.started_at if violation else None, zone, language),
        "violation_duration": _minutes(violation.duration_minutes if violation else None, language),
        "drive_time_left": _minutes(
            data.hos_clock.drive_remaining_minutes if data.hos_clock else None, language
        ),
        "facility": (_stop_label(held, language) if held else None) or unknown,
        "arrived": _local(visit.arrived_at if visit else None, zone, language),
        "held_for": _minutes(visit.dwell_minutes if visit else None, language),
        "timezone": timezone,
        # The language to speak (primary subtag): the agent profile is chosen by it too.
        "language": language,
    }


def _stop_label(stop, language: str) -> str:
    """The stop as said: its name in "City, ST" ("en" in Spanish); empty when it has neither."""
    place = ", ".join(p for p in (stop.city, stop.state) if p)
    return f" {_words(language)['in']} ".join(p for p in (stop.name, place) if p)


def render_text(template: str, variables: dict[str, Scalar]) -> str:
    """Substitute `{{ name }}`; an unknown name renders as "unknown" in the variables'
    language, never as the raw tag."""
    unknown = _words(str(variables.get("language", "en")))["unknown"]
    return PLACEHOLDER.sub(lambda m: str(variables.get(m.group(1), unknown)), template)


def render_prompt(
    purpose: CallPurpose | str,
    variables: dict[str, Scalar],
    *,
    first_message: str | None = None,
    language: str | None = "en",
) -> RenderedPrompt:
    """The purpose's template in `language`, filled in; a profile's own first message
    overrides the default."""
    template = template_for(purpose, language)
    return RenderedPrompt(
        purpose=template.purpose.value,
        version=template.version,
        first_message=render_text(first_message or template.first_message, variables),
        system_prompt=render_text(template.system_prompt, variables),
        variables=variables,
    )
