"""`python -m tests.ensure_postgres URL`: create the test database if missing (for `make test`)."""

from __future__ import annotations

import sys

import psycopg2
from psycopg2 import sql
from sqlalchemy.engine import make_url


def main(url_text: str) -> int:
    url = make_url(url_text)
    try:
        conn = psycopg2.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            user=url.username or "postgres",
            password=url.password,
            dbname="postgres",
            connect_timeout=5,
        )
    except psycopg2.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0]
        print(
            f"PostgreSQL is not reachable at {url.host}:{url.port}: {first_line}", file=sys.stderr
        )
        print("start it (see .ci/run) or set TEST_DATABASE_URL", file=sys.stderr)
        return 1
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (url.database,))
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(url.database)))
            print(f"created test database {url.database}")
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
