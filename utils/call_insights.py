"""Call insights from a finished call: pure functions, no database, no HTTP.

The provider's structured output wins when present (VAPI `analysis.structuredData`, ElevenLabs
`data_collection_results`); any field it leaves empty falls back to deterministic rules over
what the driver said (delays in minutes/hours, an ETA clock time, a city matched against the
trip's stops, issue keywords, acknowledgement and call-back phrases). Every field carries its
source (`structured` | `transcript_rule`) and a confidence in [0, 1].
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

STRUCTURED = "structured"
TRANSCRIPT_RULE = "transcript_rule"
STRUCTURED_CONFIDENCE = 0.95
# A delay this long needs a person to look at the load, whatever else was said.
FOLLOW_UP_DELAY_MINUTES = 60

ISSUES = (
    "breakdown",
    "weather",
    "traffic",
    "shipper_delay",
    "receiver_delay",
    "hos",
    "health",
    "other",
)


# Why a truck is held at a facility (a `facility_check` call about detention).
HOLD_REASONS = (
    "not_loaded",
    "paperwork",
    "no_door",
    "lumper",
    "product_not_ready",
    "load_problem",
    "other",
)
_HOLD_KEYWORDS: dict[str, tuple[str, ...]] = {
    "no_door": ("no door", "no doors", "waiting for a door", "waiting on a door", "no dock"),
    "lumper": ("lumper",),
    "paperwork": ("paperwork", "bills of lading", "bill of lading", "bol", "signature"),
    "product_not_ready": ("not ready", "product isn't ready", "still building", "not built"),
    "load_problem": ("rejected", "damaged", "short", "overage", "wrong product"),
    "not_loaded": (
        "not loaded",
        "haven't loaded",
        "still loading",
        "not unloaded",
        "haven't unloaded",
        "still unloading",
        "waiting to load",
        "waiting to unload",
    ),
}
_HOLD_PATTERNS = {
    reason: re.compile(r"\b(?:" + "|".join(re.escape(k) for k in words) + r")\b")
    for reason, words in _HOLD_KEYWORDS.items()
}
_HOLD_KEYS = ("hold_reason", "hold_up", "detention_reason", "holdup_reason")


def _hold_in(text: str) -> str | None:
    """The first hold-up reason the driver named (in `_HOLD_KEYWORDS` order), else None."""
    return next((r for r, p in _HOLD_PATTERNS.items() if p.search(text)), None)


@dataclass(frozen=True)
class Turn:
    role: str  # "agent" | "user"
    text: str


@dataclass(frozen=True)
class Finding:
    value: Any
    source: str
    confidence: float


@dataclass(frozen=True)
class Insights:
    delay_minutes: Finding | None = None
    eta: Finding | None = None  # value: "HH:MM" (24 h, driver's local time)
    location: Finding | None = None  # value: the matched stop city, as written on the stop
    issues: Finding | None = None  # value: list of ISSUES
    violation_acknowledged: Finding | None = None
    needs_follow_up: Finding | None = None  # value: bool
    follow_up_reason: str | None = None
    hold_reason: Finding | None = None  # value: one of HOLD_REASONS

    def provenance(self) -> dict[str, dict[str, Any]]:
        names = (
            "delay_minutes",
            "eta",
            "location",
            "issues",
            "violation_acknowledged",
            "needs_follow_up",
            "hold_reason",
        )
        return {
            name: {"source": found.source, "confidence": found.confidence}
            for name in names
            if (found := getattr(self, name)) is not None
        }


# ---- transcript rules --------------------------------------------------------------------

_WORD_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "forty-five": 45,
    "fifty": 50,
    "couple": 2,
    "a couple": 2,
    "a couple of": 2,
}
_NUM = r"(\d+(?:\.\d+)?|a couple(?: of)?|couple|forty-five|[a-z]+)"
_LATE = r"(?:late|behind|delayed|of delay|delay)"
_DELAY_PATTERNS = (
    # "an hour and a half late", "two and a half hours behind"
    re.compile(rf"\b{_NUM}\s+hours?\s+and\s+a\s+half\s+{_LATE}"),
    re.compile(rf"\b{_NUM}\s+and\s+a\s+half\s+hours?\s+{_LATE}"),
    # "half an hour late"
    re.compile(rf"\bhalf\s+an?\s+hour\s+{_LATE}"),
    # "45 minutes late", "about 2 hours behind", "30 min delay", "20 mins out"
    re.compile(rf"\b{_NUM}\s*(minutes?|mins?|hours?|hrs?|h)\s+{_LATE}"),
    # "delayed by 40 minutes", "running late by an hour", "a delay of 2 hours"
    re.compile(
        rf"\b(?:delayed|late|behind|delay)\s+(?:by|of)\s+(?:about\s+|around\s+|maybe\s+)?"
        rf"{_NUM}\s*(minutes?|mins?|hours?|hrs?)"
    ),
    # A text back: "stuck at the shipper, 2 hours", "held at the receiver for 90 min"
    re.compile(
        rf"\b(?:stuck|held(?: up)?|waiting|sitting|detained)\b[^.?!\d]{{0,40}}?"
        rf"(?:for\s+)?(?:about\s+|around\s+|another\s+)?{_NUM}\s*(minutes?|mins?|hours?|hrs?)\b"
    ),
)
# Spanish (a driver whose language is `es` talks to the Spanish agent).
_ES_NUMBERS = {
    "un": 1,
    "una": 1,
    "dos": 2,
    "tres": 3,
    "cuatro": 4,
    "cinco": 5,
    "diez": 10,
    "quince": 15,
    "veinte": 20,
    "treinta": 30,
    "cuarenta": 40,
    "cuarenta y cinco": 45,
    "cincuenta": 50,
}
_ES_NUM = r"(\d+(?:\.\d+)?|cuarenta y cinco|[a-z]+)"
_ES_LATE = r"(?:tarde|atrasad[oa]s?|de retraso|de atraso|retrasad[oa]s?)"
_ES_DELAY_PATTERNS = (
    # "una hora y media tarde", "dos horas y media de retraso"
    re.compile(rf"\b{_ES_NUM}\s+horas?\s+y\s+media\s+{_ES_LATE}"),
    # "media hora tarde"
    re.compile(rf"\bmedia\s+hora\s+{_ES_LATE}"),
    # "45 minutos tarde", "unas dos horas de retraso", "20 min atrasado"
    re.compile(rf"\b{_ES_NUM}\s*(minutos?|mins?|horas?|hrs?)\s+{_ES_LATE}"),
    # "un retraso de 40 minutos", "voy atrasado por una hora"
    re.compile(
        rf"\b(?:retraso|atraso|atrasad[oa]|tarde)\s+(?:de|por)\s+(?:unas?\s+|como\s+)?"
        rf"{_ES_NUM}\s*(minutos?|mins?|horas?|hrs?)"
    ),
)


def _delay_from_es(text: str) -> int | None:
    for index, pattern in enumerate(_ES_DELAY_PATTERNS):
        match = pattern.search(text)
        if not match:
            continue
        if index == 1:
            return 30
        token = match.group(1)
        amount = _ES_NUMBERS.get(token) if not token[0].isdigit() else float(token)
        if amount is None:
            continue
        if index == 0:
            return round(amount * 60 + 30)
        return round(amount * 60) if match.group(2).startswith("h") else round(amount)
    return None


_ON_TIME = re.compile(
    r"\b(on time|on schedule|right on track|ahead of schedule|no delay|a tiempo|"
    r"sin retraso|sin atraso|a la hora)\b"
)
_ETA = re.compile(
    r"\b(?:eta|arrive|arriving|get there|be there|there by|there around|there at|pull in|"
    r"make it by|deliver(?:ing)? by|in by)\b[^.?!]{0,25}?\b(\d{1,2})(?::(\d{2}))?\s*"
    r"(a\.?m\.?|p\.?m\.?)?(?![\d:])"
)
_ISSUE_KEYWORDS: dict[str, tuple[str, ...]] = {
    "breakdown": (
        "broke down",
        "broken down",
        "breakdown",
        "flat tire",
        "blown tire",
        "blowout",
        "engine",
        "mechanical",
        "tow truck",
        "towed",
        "repair shop",
        "check engine",
        "air leak",
        "brakes",
    ),
    "weather": (
        "snow",
        "icy",
        "ice on",
        "storm",
        "heavy rain",
        "fog",
        "high wind",
        "weather",
        "blizzard",
        "hail",
    ),
    "traffic": (
        "traffic",
        "accident",
        "crash",
        "construction",
        "closure",
        "road closed",
        "detour",
        "congestion",
        "wreck",
        "backed up",
    ),
    "shipper_delay": (
        "shipper",
        "at pickup",
        "at the pickup",
        "still loading",
        "loading took",
        "waiting to load",
        "load wasn't ready",
        "not ready at pickup",
    ),
    "receiver_delay": (
        "receiver",
        "consignee",
        "unloading",
        "lumper",
        "waiting for a door",
        "no door",
        "dock",
        "appointment got moved",
        "they pushed my appointment",
    ),
    "hos": (
        "out of hours",
        "hours of service",
        "10-hour break",
        "ten hour break",
        "34 hour reset",
        "34-hour reset",
        "my clock",
        "drive time",
        "hos",
        "run out of hours",
        "ran out of hours",
    ),
    "health": (
        "sick",
        "not feeling well",
        "hospital",
        "doctor",
        "injured",
        "hurt my",
        "chest pain",
        "medical",
        "emergency room",
        "dizzy",
    ),
}
_NEGATION = re.compile(
    r"\b(no|not|without|never|zero|sin|nada de|ningún|ninguna)\s+(?:\w+\s+){0,2}$"
)
_ACK_YES = re.compile(
    r"\b(i understand|understood|got it|my (?:bad|fault|mistake)|won'?t happen again|"
    r"i'?ll be more careful|i'?ll be careful|you'?re right|i know,? i|"
    r"yes,? (?:that was me|i was|i did))\b"
)
_ACK_NO = re.compile(
    r"\b(that'?s (?:wrong|not right|not true)|wasn'?t me|i disagree|"
    r"i (?:did ?n[o']?t|never) (?:do|speed|go)|the (?:eld|log) is wrong|that never happened)\b"
)
_CALL_BACK = re.compile(
    r"\b(call me back|have (?:someone|dispatch|safety) call me|need to (?:talk|speak) to|"
    r"need help|can someone call|talk to (?:a person|dispatch|my manager)|need a tow|"
    r"need assistance|llámame|llamame|que me llamen|necesito ayuda|necesito una grúa|"
    r"necesito una grua|necesito hablar con)\b"
)
_FOLLOW_UP_ISSUES = ("breakdown", "health")


def _number(token: str) -> float | None:
    token = token.strip().lower()
    try:
        return float(token)
    except ValueError:
        return _WORD_NUMBERS.get(token)


def _delay_from(text: str) -> int | None:
    for index, pattern in enumerate(_DELAY_PATTERNS):
        match = pattern.search(text)
        if not match:
            continue
        if index == 2:
            return 30
        amount = _number(match.group(1))
        if amount is None:
            continue
        if index in (0, 1):
            return round(amount * 60 + 30)
        unit = match.group(2)
        return round(amount * 60) if unit.startswith("h") else round(amount)
    return None


def _eta_from(text: str) -> tuple[str, float] | None:
    match = _ETA.search(text)
    if not match:
        return None
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    meridiem = (match.group(3) or "").replace(".", "")
    if hour > 23 or minute > 59:
        return None
    if meridiem == "pm" and hour < 12:
        hour += 12
    elif meridiem == "am" and hour == 12:
        hour = 0
    # Without am/pm an hour of 1-6 is almost always afternoon on a driving day.
    elif not meridiem and 1 <= hour <= 6:
        hour += 12
    confidence = 0.75 if meridiem or match.group(2) else 0.6
    return f"{hour:02d}:{minute:02d}", confidence


_ES_ISSUE_KEYWORDS: dict[str, tuple[str, ...]] = {
    "breakdown": (
        "se descompuso",
        "descompuesto",
        "descompuesta",
        "llanta ponchada",
        "ponchadura",
        "se ponchó",
        "grúa",
        "grua",
        "el motor",
        "taller",
        "falla mecánica",
        "falla mecanica",
    ),
    "weather": ("lluvia", "nieve", "tormenta", "hielo", "niebla", "neblina", "viento fuerte"),
    "traffic": ("tráfico", "trafico", "embotellamiento", "accidente", "construcción", "obras"),
    "shipper_delay": ("la carga no estaba lista", "en el cargador", "esperando la carga"),
    "receiver_delay": ("en la descarga", "el receptor", "esperando descargar"),
    "hos": ("horas de servicio", "mis horas", "descanso obligatorio", "sin horas"),
    "health": ("enfermo", "enferma", "me siento mal", "hospital", "médico", "medico"),
}
_ISSUE_PATTERNS = {
    issue: re.compile(
        r"\b(?:"
        + "|".join(re.escape(k) for k in (*keywords, *_ES_ISSUE_KEYWORDS.get(issue, ())))
        + r")\b"
    )
    for issue, keywords in _ISSUE_KEYWORDS.items()
}


def _issues_in(text: str) -> list[str]:
    """Issue families mentioned in `text`, skipping negated mentions ("no traffic")."""
    found = []
    for issue, pattern in _ISSUE_PATTERNS.items():
        for match in pattern.finditer(text):
            if not _NEGATION.search(text, max(0, match.start() - 30), match.start()):
                found.append(issue)
                break
    return found


@lru_cache(maxsize=256)
def _city_pattern(cities: tuple[str, ...]) -> re.Pattern[str] | None:
    names = sorted({c for c in cities if c}, key=len, reverse=True)
    if not names:
        return None
    return re.compile(r"\b(" + "|".join(re.escape(c.lower()) for c in names) + r")\b")


def _city_in(text: str, cities: Iterable[str]) -> str | None:
    """The longest stop city named in `text`, spelled as on the stop."""
    cities = tuple(cities)
    pattern = _city_pattern(cities)
    match = pattern.search(text) if pattern is not None else None
    if match is None:
        return None
    return next(c for c in cities if c and c.lower() == match.group(1))


def transcript_insights(
    turns: Sequence[Turn], *, stop_cities: Sequence[str] = (), purpose: str | None = None
) -> Insights:
    """Rules over the driver's own turns only (the agent's questions mention cities and times)."""
    said = [t.text.lower() for t in turns if t.role == "user" and t.text]
    text = " ".join(said)
    delay: Finding | None = None
    found = (d if (d := _delay_from(t)) is not None else _delay_from_es(t) for t in said)
    if (minutes := next((m for m in found if m is not None), None)) is not None:
        delay = Finding(minutes, TRANSCRIPT_RULE, 0.8)
    elif _ON_TIME.search(text):
        delay = Finding(0, TRANSCRIPT_RULE, 0.7)
    eta = next((found for found in map(_eta_from, said) if found), None)
    city = _city_in(text, stop_cities)
    issues = _issues_in(text)
    acknowledged: Finding | None = None
    if purpose in (None, "violation_coaching"):
        if _ACK_NO.search(text):
            acknowledged = Finding(False, TRANSCRIPT_RULE, 0.6)
        elif _ACK_YES.search(text):
            acknowledged = Finding(True, TRANSCRIPT_RULE, 0.6)
    reasons = []
    if _CALL_BACK.search(text):
        reasons.append("driver asked for a call back")
    reasons += [f"driver reported {issue}" for issue in issues if issue in _FOLLOW_UP_ISSUES]
    if delay is not None and delay.value >= FOLLOW_UP_DELAY_MINUTES:
        reasons.append(f"driver reported a {delay.value} minute delay")
    if acknowledged is not None and acknowledged.value is False:
        reasons.append("driver disputes the violation")
    return Insights(
        delay_minutes=delay,
        eta=Finding(eta[0], TRANSCRIPT_RULE, eta[1]) if eta else None,
        location=Finding(city, TRANSCRIPT_RULE, 0.9) if city else None,
        issues=Finding(issues, TRANSCRIPT_RULE, 0.7) if issues else None,
        violation_acknowledged=acknowledged,
        needs_follow_up=Finding(bool(reasons), TRANSCRIPT_RULE, 0.7 if reasons else 0.5),
        follow_up_reason="; ".join(reasons) or None,
        hold_reason=(
            Finding(hold, TRANSCRIPT_RULE, 0.7)
            if purpose in (None, "facility_check") and (hold := _hold_in(text))
            else None
        ),
    )


# ---- structured output -------------------------------------------------------------------

_DELAY_KEYS = ("delay_minutes", "reported_delay_minutes", "minutes_late", "delay")
_ETA_KEYS = ("eta", "eta_time", "new_eta", "eta_local", "estimated_arrival")
_LOCATION_KEYS = ("location", "current_location", "reported_location", "current_city", "city")
_ISSUE_KEYS = ("issues", "issue", "issue_reported", "delay_reason", "issue_type", "reason")
_ACK_KEYS = ("violation_acknowledged", "acknowledged", "acknowledged_violation")
_FOLLOW_KEYS = ("needs_follow_up", "needs_dispatch_callback", "follow_up", "callback_requested")
_REASON_KEYS = ("follow_up_reason", "callback_reason")


def _first(data: Mapping[str, Any], keys: Sequence[str]) -> Any:
    return next((data[k] for k in keys if data.get(k) not in (None, "", [])), None)


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "yes", "y", "1", "success"):
            return True
        if lowered in ("false", "no", "n", "0", "failure"):
            return False
    return None


def _as_minutes(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return max(0, round(value))
    if isinstance(value, str):
        if value.strip().isdigit():
            return int(value.strip())
        return _delay_from(value.lower() + " late")
    return None


def _as_issues(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    found: list[str] = []
    for item in values:
        text = str(item).strip().lower().replace(" ", "_")
        if text in ("", "none", "no", "null", "false"):
            continue
        matched = [text] if text in ISSUES else (_issues_in(str(item).lower()) or ["other"])
        found += [m for m in matched if m not in found]
    return found


def structured_insights(data: Mapping[str, Any], *, stop_cities: Sequence[str] = ()) -> Insights:
    """The fields a provider's structured output gives (missing ones stay None)."""

    def found(value: Any) -> Finding | None:
        return None if value is None else Finding(value, STRUCTURED, STRUCTURED_CONFIDENCE)

    delay = _as_minutes(_first(data, _DELAY_KEYS))
    eta_raw = _first(data, _ETA_KEYS)
    eta = _eta_from(f"eta {eta_raw}".lower()) if eta_raw is not None else None
    location = _first(data, _LOCATION_KEYS)
    if location is not None:
        location = _city_in(str(location).lower(), stop_cities) or str(location)
    issues = _as_issues(_first(data, _ISSUE_KEYS)) if _first(data, _ISSUE_KEYS) else []
    follow = _as_bool(_first(data, _FOLLOW_KEYS))
    reason = _first(data, _REASON_KEYS)
    hold_raw = _first(data, _HOLD_KEYS)
    hold = None
    if hold_raw is not None:
        text = str(hold_raw).strip().lower()
        hold = text if text in HOLD_REASONS else (_hold_in(text) or "other")
    return Insights(
        delay_minutes=found(delay),
        eta=found(eta[0]) if eta else None,
        location=found(location),
        issues=found(issues) if issues else None,
        violation_acknowledged=found(_as_bool(_first(data, _ACK_KEYS))),
        needs_follow_up=found(follow),
        follow_up_reason=str(reason) if reason else None,
        hold_reason=found(hold),
    )


def extract_insights(
    *,
    turns: Sequence[Turn],
    structured: Mapping[str, Any] | None = None,
    stop_cities: Sequence[str] = (),
    purpose: str | None = None,
) -> Insights:
    """Structured fields first, transcript rules for the rest; follow-up is the OR of both."""
    rules = transcript_insights(turns, stop_cities=stop_cities, purpose=purpose)
    if not structured:
        return rules
    given = structured_insights(structured, stop_cities=stop_cities)

    def pick(name: str) -> Finding | None:
        return getattr(given, name) or getattr(rules, name)

    follow = given.needs_follow_up
    reason = given.follow_up_reason
    if rules.needs_follow_up is not None and rules.needs_follow_up.value:
        if follow is None or not follow.value:
            follow, reason = rules.needs_follow_up, rules.follow_up_reason
    elif follow is None:
        follow = rules.needs_follow_up
    if follow is not None and follow.value and not reason:
        reason = rules.follow_up_reason or "the agent flagged a follow-up"
    return Insights(
        delay_minutes=pick("delay_minutes"),
        eta=pick("eta"),
        location=pick("location"),
        issues=pick("issues"),
        violation_acknowledged=pick("violation_acknowledged"),
        needs_follow_up=follow,
        follow_up_reason=reason if follow is not None and follow.value else None,
        hold_reason=pick("hold_reason"),
    )


def turns_from_vapi(messages: Iterable[Mapping[str, Any]]) -> list[Turn]:
    """VAPI `artifact.messages`: roles `bot`/`assistant` → agent, `user` → user; tools skipped."""
    roles = {"bot": "agent", "assistant": "agent", "user": "user"}
    return [
        Turn(roles[str(m.get("role"))], str(m.get("message") or ""))
        for m in messages
        if str(m.get("role")) in roles and m.get("message")
    ]


def turns_from_text(transcript: str) -> list[Turn]:
    """VAPI's plain `artifact.transcript` (`AI: …` / `User: …` lines)."""
    turns = []
    for line in transcript.splitlines():
        speaker, _, text = line.partition(":")
        if not text:
            continue
        role = "user" if speaker.strip().lower() in ("user", "customer", "driver") else "agent"
        turns.append(Turn(role, text.strip()))
    return turns
