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


def _probe_groups(render, *, name: str = "v1") -> list[tuple[str, list]]:
    """`insert_new` input led by `name`: two fleets' rows, with escapes, JSON and NULLs."""
    rows = [
        (f"ext-{i}", T0 + timedelta(minutes=i), {"i": i, "tags": ["a\tb"]} if i else None, i > 0)
        for i in range(4)
    ]
    return [
        (f"{name}\tfleet\\a", [render(r) for r in rows[:2]]),
        (name, [render(r) for r in rows[2:]]),
    ]


@pytest.mark.parametrize("prerender", [False, True], ids=["tuples", "rendered"])
def test_insert_new_inserts_missing_keys_and_leaves_stored_rows(session, prerender):
    columns = ["name", "external_id", "seen_at", "details", "active"]
    render = upsert.row_renderer(session.get_bind().dialect.name) if prerender else tuple
    first = upsert.insert_new(
        session, UpsertProbe, columns, _probe_groups(render), conflict_columns=["external_id"]
    )
    assert (first.inserted, first.updated, first.unchanged) == (4, 0, 0)

    again = [
        *_probe_groups(render, name="changed"),
        ("changed", [render(("ext-9", None, None, True))]),
    ]
    second = upsert.insert_new(
        session, UpsertProbe, columns, again, conflict_columns=["external_id"]
    )
    assert (second.inserted, second.updated, second.unchanged) == (1, 0, 4)

    stored = _stored(session)
    assert len(stored) == 5
    assert stored["ext-0"].name == "v1\tfleet\\a"  # the stored fact is kept, never updated
    assert stored["ext-0"].details is None and stored["ext-0"].active is False
    assert stored["ext-1"].details == {"i": 1, "tags": ["a\tb"]}
    assert stored["ext-3"].name == "v1" and stored["ext-3"].seen_at == T0 + timedelta(minutes=3)
    assert stored["ext-9"].name == "changed" and stored["ext-9"].seen_at is None


def test_insert_new_counts_a_key_repeated_in_the_input_once(session):
    rows = [("ext-1", None, None, True), ("ext-1", None, None, False), ("ext-2", None, None, True)]
    result = upsert.insert_new(
        session, UpsertProbe, ["name", "external_id", "seen_at", "details", "active"],
        [("n", rows), ("empty", [])], conflict_columns=["external_id"],
    )  # fmt: skip
    assert (result.inserted, result.unchanged) == (2, 1)
    assert set(_stored(session)) == {"ext-1", "ext-2"}


def test_insert_new_refuses_unknown_columns_and_ignores_empty_input(session):
    with pytest.raises(ValueError, match="no column"):
        upsert.insert_new(session, UpsertProbe, ["nope"], [("x", [()])], conflict_columns=["id"])
    empty = upsert.insert_new(session, UpsertProbe, ["name"], [], conflict_columns=["external_id"])
    assert (empty.inserted, empty.unchanged) == (0, 0)


def test_copy_line_escapes_and_marks_nulls():
    line = upsert.copy_line(("a\tb\\c\nd", None, 1.5, 7, True, T0, {"k": "v"}))
    assert line == 'a\\tb\\\\c\\nd\t\\N\t1.5\t7\tt\t2026-11-01T08:00:00+00:00\t{"k":"v"}\n'
