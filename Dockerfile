# syntax=docker/dockerfile:1
# One image, two apps on $PORT (Cloud Run sets it): `python cli.py serve main` (the default
# command) and `python cli.py serve ingest` (the ingest service's args). Migrations run from the
# same image as a Cloud Run job: `python cli.py migrate`. See README, "Deploying".

# --- build: the runtime dependencies only, in a virtualenv copied whole into the final stage ---
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY main.py ingest_app.py config.py cli.py devstack.py ./
COPY db db
COPY models models
COPY services services
COPY logic logic
COPY helpers helpers
COPY utils utils
COPY sandbox sandbox
COPY cloud_functions cloud_functions
# Install the project to resolve its [project] dependencies (no dev extras) at the versions the
# suite passed with, then drop the project itself: the final stage runs the source from /app.
RUN /opt/venv/bin/pip install . -c constraints.txt \
    && /opt/venv/bin/pip uninstall --yes fleet-intelligence-hub

# --- runtime: slim base, no compilers, no tests, a non-root user ---
FROM python:3.11-slim AS runtime
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8080 \
    LOG_FORMAT=json
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY main.py ingest_app.py config.py cli.py alembic.ini ./
COPY alembic alembic
COPY db db
COPY models models
COPY services services
COPY logic logic
COPY helpers helpers
COPY utils utils
# The warehouse export reads its table schemas from here (logic/warehouse/tables.py).
COPY bigquery bigquery
USER app
EXPOSE 8080
ENTRYPOINT ["python", "cli.py", "serve"]
CMD ["main"]
