"""Every benchmark still runs: each `bench/*_bench.py --smoke` (tiny sizes, a few seconds), as
a script from another directory, on a PostgreSQL database of its own (`fleet_hub_smoke_<bench>`,
kept between runs: creating and dropping databases waits for checkpoints; every benchmark
rebuilds its schema anyway).

The benchmarks measure PostgreSQL, so this runs in the PostgreSQL pass of `make test` only.
They run side by side (each mostly waits on its database or its server) to keep the suite fast.
"""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.process_support import ROOT, process_env

BENCHES = sorted((ROOT / "bench").glob("*_bench.py"))
# The database settings the benchmarks read (most share BENCH_DATABASE_URL).
URL_SETTINGS = (
    "BENCH_DATABASE_URL",
    "AUTH_BENCH_DATABASE_URL",
    "CALLS_BENCH_DATABASE_URL",
    "DOMAIN_BENCH_DATABASE_URL",
)
PARALLEL = 3
TIMEOUT = 240


def _run(bench: Path, url: str, cwd: Path) -> tuple[str, int, float, str]:
    env = process_env(**dict.fromkeys(URL_SETTINGS, url))
    started = time.monotonic()
    try:
        result = subprocess.run(
            [sys.executable, str(bench), "--smoke"],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False,
        )  # fmt: skip
        code, output = result.returncode, result.stdout + result.stderr
    except subprocess.TimeoutExpired as exc:
        code, output = -1, f"timed out after {TIMEOUT} s: {exc.stdout!r} {exc.stderr!r}"
    return bench.name, code, time.monotonic() - started, output


def test_there_are_benchmarks_and_make_bench_runs_them_all():
    assert len(BENCHES) >= 10
    makefile = (ROOT / "Makefile").read_text()
    assert "bench/*_bench.py" in makefile


@pytest.mark.postgres
def test_every_benchmark_runs_in_smoke_mode(engine, tmp_path):
    server = make_url(engine.url.render_as_string(hide_password=False)).set(
        drivername="postgresql+psycopg2"
    )
    names = {bench: f"fleet_hub_smoke_{bench.stem}" for bench in BENCHES}
    urls = {
        bench: server.set(drivername="postgresql", database=name).render_as_string(
            hide_password=False
        )
        for bench, name in names.items()
    }
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        results = list(pool.map(lambda b: _run(b, urls[b], tmp_path), BENCHES))
    timings = ", ".join(f"{name} {seconds:.0f} s" for name, _, seconds, _ in results)
    print(f"smoke runs: {timings}")
    failed = [(name, code, output[-3000:]) for name, code, _, output in results if code != 0]
    assert not failed, "\n\n".join(f"{name} exited {code}:\n{out}" for name, code, out in failed)
