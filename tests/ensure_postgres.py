"""`python -m tests.ensure_postgres URL`: create the test database if missing (for `make test`)."""

from __future__ import annotations

import sys

from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from db.database import create_database_if_missing


def main(url_text: str) -> int:
    url = make_url(url_text)
    try:
        if create_database_if_missing(url):
            print(f"created test database {url.database}")
    except OperationalError as exc:
        lines = [line for line in str(exc.orig or exc).splitlines() if line.strip()]
        reason = lines[0].strip() if lines else type(exc).__name__
        print(f"PostgreSQL is not reachable at {url.host}:{url.port}: {reason}", file=sys.stderr)
        print("start it (see .ci/run) or set TEST_DATABASE_URL", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
