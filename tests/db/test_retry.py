"""`@db_retry` retries transient connection errors only."""

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from db.retry import db_retry, is_transient_db_error


def _operational() -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception("server closed the connection"))


def test_retries_a_transient_error_then_succeeds():
    calls = []

    @db_retry(max_retries=3, initial_wait=0, max_wait=0)
    def unit() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _operational()
        return "done"

    assert unit() == "done"
    assert len(calls) == 3


def test_gives_up_after_max_retries():
    calls = []

    @db_retry(max_retries=2, initial_wait=0, max_wait=0)
    def unit() -> None:
        calls.append(1)
        raise _operational()

    with pytest.raises(OperationalError):
        unit()
    assert len(calls) == 3  # the first attempt plus two retries


def test_never_retries_integrity_errors():
    calls = []

    @db_retry(max_retries=3, initial_wait=0, max_wait=0)
    def unit() -> None:
        calls.append(1)
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    with pytest.raises(IntegrityError):
        unit()
    assert len(calls) == 1


def test_classification():
    assert is_transient_db_error(_operational())
    assert not is_transient_db_error(ValueError("bad data"))
