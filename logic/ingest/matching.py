"""Entity matching across Samsara and Ditat: is this vendor record a person or truck we know?

Drivers: the other source's id in Samsara `externalIds` (e.g. `ditatDriverId`), else the same
E.164 phone, else the same normalised name. Trucks: the same unit number (Samsara `name` = Ditat
`truckId`), else the same VIN. A candidate row is only one the incoming source has not claimed
yet (its own id column is empty), and each row is claimed at most once per page, so two vendor
records never merge into one row. What does not match is inserted on its own, and reported as
unmatched only once the other source has records of that kind (`other_source_present`): on the
first load of a fresh database there is nothing to match yet, and the other source's load that
follows links the rows (and reports its own records that found no counterpart).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from db.upsert import UpsertResult, bulk_upsert
from models.driver import Driver
from models.vehicle import Vehicle

# Samsara externalIds keys that carry the Ditat driver id (compared case-insensitively).
DITAT_DRIVER_ID_KEYS = ("ditatdriverid", "ditatid", "ditat", "tmsid", "tmsdriverid")
DITAT_TRUCK_ID_KEYS = ("ditattruckid", "ditatunitid", "tmstruckid")

_NON_WORD = re.compile(r"[^a-z0-9 ]+")


def normalize_name(first: str | None, last: str | None = None) -> str:
    """`"Smith, John"`, `"JOHN  smith"` and `("John", "Smith")` all become `"john smith"`."""
    text = f"{first or ''} {last or ''}" if last is not None else (first or "")
    if last is None and "," in text:
        surname, _, given = text.partition(",")
        text = f"{given} {surname}"
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(_NON_WORD.sub(" ", text).split())


def normalize_unit(unit: str | None) -> str:
    """Unit numbers compare without case, spaces or leading zeros (`"Truck 0101"` ≠ `"101"`)."""
    text = re.sub(r"\s+", "", (unit or "").upper())
    return text.lstrip("0") or text


def external_value(external_ids: dict | None, keys: Iterable[str]) -> str | None:
    wanted = set(keys)
    for key, value in (external_ids or {}).items():
        if str(key).lower() in wanted and value not in (None, ""):
            return str(value)
    return None


@dataclass
class Match:
    row_id: int
    rule: str  # "external_id" | "phone" | "name" | "unit_number" | "vin"


@dataclass
class _Candidate:
    row_id: int
    own_id: str | None  # the incoming source's id column on this row
    other_id: str | None  # the other source's id column on this row
    phone: str | None = None
    name: str = ""
    unit: str = ""
    vin: str | None = None


@dataclass
class DriverIndex:
    """All driver rows, indexed for one source's page (`source` = the incoming vendor)."""

    source: str
    by_own_id: dict[str, int] = field(default_factory=dict)
    other_source_present: bool = False
    _by_other_id: dict[str, _Candidate] = field(default_factory=dict)
    _by_phone: dict[str, list[_Candidate]] = field(default_factory=dict)
    _by_name: dict[str, list[_Candidate]] = field(default_factory=dict)
    _claimed: set[int] = field(default_factory=set)

    @classmethod
    def load(cls, session: Session, source: str) -> DriverIndex:
        index = cls(source)
        rows = session.execute(
            select(
                Driver.id,
                Driver.samsara_id,
                Driver.ditat_id,
                Driver.phone,
                Driver.first_name,
                Driver.last_name,
            )
        )
        for row_id, samsara_id, ditat_id, phone, first, last in rows:
            own, other = (samsara_id, ditat_id) if source == "samsara" else (ditat_id, samsara_id)
            index.other_source_present |= bool(other)
            if own:
                index.by_own_id[own] = row_id
                continue
            cand = _Candidate(row_id, own, other, phone, normalize_name(first, last))
            if other:
                index._by_other_id[other] = cand
            if phone:
                index._by_phone.setdefault(phone, []).append(cand)
            if cand.name:
                index._by_name.setdefault(cand.name, []).append(cand)
        return index

    def match(
        self, *, other_ids: Iterable[str] = (), phone: str | None = None, name: str = ""
    ) -> Match | None:
        """The unclaimed row this record is, by the first rule that finds exactly one."""
        for other_id in other_ids:
            cand = self._by_other_id.get(other_id)
            if cand and cand.row_id not in self._claimed:
                return self._claim(cand, "external_id")
        for rule, key, table in (("phone", phone, self._by_phone), ("name", name, self._by_name)):
            if not key:
                continue
            free = [c for c in table.get(key, []) if c.row_id not in self._claimed]
            if len(free) == 1:  # an ambiguous phone or name is no match at all
                return self._claim(free[0], rule)
        return None

    def _claim(self, cand: _Candidate, rule: str) -> Match:
        self._claimed.add(cand.row_id)
        return Match(cand.row_id, rule)


@dataclass
class VehicleIndex:
    """All truck rows, indexed for one source's page."""

    source: str
    by_own_id: dict[str, int] = field(default_factory=dict)
    other_source_present: bool = False
    _by_unit: dict[str, list[_Candidate]] = field(default_factory=dict)
    _by_vin: dict[str, list[_Candidate]] = field(default_factory=dict)
    _claimed: set[int] = field(default_factory=set)

    @classmethod
    def load(cls, session: Session, source: str) -> VehicleIndex:
        index = cls(source)
        rows = session.execute(
            select(
                Vehicle.id, Vehicle.samsara_id, Vehicle.ditat_id, Vehicle.unit_number, Vehicle.vin
            )
        )
        for row_id, samsara_id, ditat_id, unit, vin in rows:
            own, other = (samsara_id, ditat_id) if source == "samsara" else (ditat_id, samsara_id)
            index.other_source_present |= bool(other)
            if own:
                index.by_own_id[own] = row_id
                continue
            cand = _Candidate(row_id, own, other, unit=normalize_unit(unit), vin=_vin(vin))
            if cand.unit:
                index._by_unit.setdefault(cand.unit, []).append(cand)
            if cand.vin:
                index._by_vin.setdefault(cand.vin, []).append(cand)
        return index

    def match(self, *, units: Iterable[str | None] = (), vin: str | None = None) -> Match | None:
        for unit in units:
            candidates = self._by_unit.get(normalize_unit(unit), [])
            free = [c for c in candidates if c.row_id not in self._claimed]
            if len(free) == 1:
                return self._claim(free[0], "unit_number")
        free = [c for c in self._by_vin.get(_vin(vin) or "", []) if c.row_id not in self._claimed]
        if len(free) == 1:
            return self._claim(free[0], "vin")
        return None

    def _claim(self, cand: _Candidate, rule: str) -> Match:
        self._claimed.add(cand.row_id)
        return Match(cand.row_id, rule)


def upsert_with_matches(
    session: Session,
    model: Any,
    own_key: str,
    own: list[dict[str, Any]],
    matched: list[dict[str, Any]],
    update_columns: list[str],
) -> UpsertResult:
    """Upsert a source's rows keyed by its own id, and claim matched rows (keyed by our id)."""
    result = bulk_upsert(
        session, model, own, conflict_columns=[own_key], update_columns=update_columns,
        touch_columns=["updated_at"],
    )  # fmt: skip
    if matched:
        for row in matched:
            row.pop("created_at", None)  # the row keeps when we first saw it
        result += bulk_upsert(
            session, model, matched, conflict_columns=["id"],
            update_columns=[own_key, *update_columns], touch_columns=["updated_at"],
        )  # fmt: skip
    return result


def _vin(value: str | None) -> str | None:
    text = (value or "").strip().upper()
    return text if len(text) == 17 else None
