"""The bulk-upsert helper: insert, update, leave unchanged — on both databases, both PG paths."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from db import upsert
from db.upsert import bulk_upsert
from tests.db.probe_models import UpsertProbe

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def _rows(n: int, *, name: str = "v1", offset: int = 0) -> list[dict]:
    return [
        {
            "external_id": f"ext-{i}",
            "name": f"{name}-{i}",
            "seen_at": T0 + timedelta(minutes=i + offset),
            "details": {"i": i, "tags": ["a\tb", "new\nline"]},
            "active": i % 2 == 0,
        }
        for i in range(n)
    ]


def _stored(session) -> dict[str, UpsertProbe]:
    session.expire_all()
    return {p.external_id: p for p in session.exec(select(UpsertProbe)).all()}


@pytest.mark.parametrize("copy_threshold", [10_000, 1], ids=["values", "copy"])
def test_insert_then_update_then_unchanged(session, monkeypatch, copy_threshold):
    monkeypatch.setattr(upsert, "COPY_THRESHOLD", copy_threshold)

    first = bulk_upsert(session, UpsertProbe, _rows(30), conflict_columns=["external_id"])
    assert (first.inserted, first.updated, first.unchanged) == (30, 0, 0)

    changed = _rows(30)
    for row in changed[:5]:
        row["name"] = "renamed"
    second = bulk_upsert(session, UpsertProbe, changed, conflict_columns=["external_id"])
    assert (second.inserted, second.updated, second.unchanged) == (0, 5, 25)

    again = bulk_upsert(session, UpsertProbe, changed, conflict_columns=["external_id"])
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 30)

    stored = _stored(session)
    assert len(stored) == 30
    assert stored["ext-0"].name == "renamed"
    assert stored["ext-7"].name == "v1-7"
    assert stored["ext-3"].seen_at == T0 + timedelta(minutes=3)
    assert stored["ext-3"].details == {"i": 3, "tags": ["a\tb", "new\nline"]}
    assert stored["ext-3"].active is False


def test_duplicate_keys_in_one_batch_keep_the_last(session):
    rows = [*_rows(3), {**_rows(1)[0], "name": "latest"}]
    result = bulk_upsert(session, UpsertProbe, rows, conflict_columns=["external_id"])
    assert result.inserted == 3
    assert _stored(session)["ext-0"].name == "latest"


def test_batches_larger_than_batch_size(session):
    result = bulk_upsert(
        session, UpsertProbe, _rows(25), conflict_columns=["external_id"], batch_size=7
    )
    assert result.inserted == 25
    assert len(_stored(session)) == 25


def test_insert_only_when_no_update_columns(session):
    bulk_upsert(session, UpsertProbe, _rows(2), conflict_columns=["external_id"])
    result = bulk_upsert(
        session,
        UpsertProbe,
        _rows(3, name="other"),
        conflict_columns=["external_id"],
        update_columns=[],
    )
    assert (result.inserted, result.updated, result.unchanged) == (1, 0, 2)
    assert _stored(session)["ext-0"].name == "v1-0"


def test_unknown_column_is_refused(session):
    with pytest.raises(ValueError, match="no column"):
        bulk_upsert(
            session,
            UpsertProbe,
            [{"external_id": "x", "nope": 1}],
            conflict_columns=["external_id"],
        )


def test_empty_input_is_a_no_op(session):
    result = bulk_upsert(session, UpsertProbe, [], conflict_columns=["external_id"])
    assert (result.inserted, result.updated, result.unchanged) == (0, 0, 0)
