"""Two apps for bench/deadlock_bench.py: the same sync, DB-backed endpoint with and without
the admission control that `services/http/app_factory.build_app` installs."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel
from sqlalchemy import text

from db.database import get_engine
from services.deps import SessionDep
from services.http.app_factory import build_app

router = APIRouter()


class Probe(BaseModel):
    id: int
    name: str


@router.get("/probe/{probe_id}", response_model=Probe)
def read_probe(probe_id: int, session: SessionDep) -> Probe:
    """A sync endpoint, a yield-dependency session and a response model: the FastAPI #3205 shape."""
    row = session.execute(
        text("SELECT id, name FROM bench_probe WHERE id = :id"), {"id": probe_id}
    ).one()
    return Probe(id=row.id, name=row.name)


def prepare() -> None:
    with get_engine().begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_probe (id int PRIMARY KEY, name text)"))
        conn.execute(
            text(
                "INSERT INTO bench_probe SELECT g, 'probe-' || g FROM generate_series(1, 100) g "
                "ON CONFLICT DO NOTHING"
            )
        )


def admitted() -> FastAPI:
    """The project's app factory: admission control + thread limit above it."""
    return build_app(title="bench-admitted", routers=[router], on_startup=prepare)


def naive() -> FastAPI:
    """A plain FastAPI app over the same pool: no admission control (the seed's setup)."""
    app = FastAPI(on_startup=[prepare])
    app.include_router(router)
    return app
