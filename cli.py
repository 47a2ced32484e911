"""Admin and ops command line (`.venv/bin/hub`): run the stack, users, ingest, demo data.

Commands run by hand in development use the local stack's vendors and keys (see devstack.py)
unless the environment or `.env` configures them.
"""

from __future__ import annotations

import sys

try:
    import typer
    from rich.console import Console

    from config import ConfigError, get_settings
except ModuleNotFoundError as exc:  # run by a Python without the project's packages
    sys.exit(
        f"fleet-hub: this Python lacks the package {exc.name!r}; run `make run` once (it creates "
        ".venv), then use `.venv/bin/hub …` (or `.venv/bin/python cli.py …`)"
    )

app = typer.Typer(help="Fleet Intelligence Hub operations.", no_args_is_help=True)
console = Console(stderr=True, soft_wrap=True)


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _settings(local_stack: bool = True):
    """Settings, after taking what the environment leaves unset from the local stack's files."""
    try:
        settings = get_settings()
        if local_stack:
            settings = _with_local_stack(settings)
        return settings
    except ConfigError as exc:
        _fail(str(exc), 2)


def _with_local_stack(settings):
    import os

    if settings.ENVIRONMENT != "development":
        return settings
    try:
        from devstack import LOCAL_SECRETS, LOCAL_STACK_ENV, local_stack_overrides, read_env_file
    except ModuleNotFoundError:  # the container: no local stack (nor devstack.py)
        return settings

    overrides = local_stack_overrides(
        settings.ENVIRONMENT,
        settings.model_fields_set,
        read_env_file(LOCAL_STACK_ENV),
        read_env_file(LOCAL_SECRETS),
    )
    if not overrides:
        return settings
    os.environ.update(overrides)
    get_settings.cache_clear()
    return get_settings()


# Commands that use no database, and `run`, which decides the stack's (and records it).
NO_DATABASE = {"sandbox", "service-key"}
NO_LOCAL_STACK = {"run"}


@app.callback()
def announce_database(ctx: typer.Context) -> None:
    """Every command first says which database it uses (stderr), so a hand-run command can
    never quietly work on another database than the running stack's."""
    command = ctx.invoked_subcommand
    if ctx.resilient_parsing or command is None:
        return
    if command in NO_DATABASE:
        console.print("database: none")
        return
    try:
        settings = get_settings()
        from_stack = False
        if command not in NO_LOCAL_STACK:
            before = settings.DATABASE_URL
            settings = _with_local_stack(settings)
            from_stack = before != settings.DATABASE_URL
        line = describe_database(settings, from_stack)
    except ConfigError:
        return  # the command itself reports the configuration error
    console.print(line)


def describe_database(settings, from_stack: bool = False) -> str:
    """`database: <URL>` without its password (an absolute SQLite path), the PostgreSQL schema,
    and whether it came from the local stack's record."""
    from db.database import absolute_database_url

    url = absolute_database_url(settings)
    notes = [f"schema {settings.DB_SCHEMA}"] if url.get_backend_name() == "postgresql" else []
    if from_stack:
        notes.append("the local stack's, from data/.local-stack.env")
    details = f" ({'; '.join(notes)})" if notes else ""
    return f"database: {url.render_as_string(hide_password=True)}{details}"


def _default_setting(name: str):
    """A setting's built-in default, for help texts (not what the environment sets)."""
    from config import Settings

    return Settings.model_fields[name].default


@app.command("init-db")
def init_db_command() -> None:
    """Create the schema and tables and seed the default roles."""
    settings = _settings()
    from sqlalchemy.exc import OperationalError

    from db.database import create_database_if_missing, database_url
    from logic.bootstrap import bootstrap_database

    url = database_url(settings)
    where = url.render_as_string(hide_password=True)
    try:
        try:
            bootstrap_database()
        except OperationalError as exc:
            # A local PostgreSQL without the database yet (`DATABASE_URL=… make run`): create it.
            missing = "does not exist" in str(exc.orig or exc)
            local = url.get_backend_name() == "postgresql" and settings.ENVIRONMENT == "development"
            if not (missing and local and create_database_if_missing(url)):
                raise
            console.print(f"created the database {url.database!r}")
            bootstrap_database()
    except OperationalError as exc:
        lines = [line for line in str(exc.orig or exc).splitlines() if line.strip()]
        reason = lines[0].strip() if lines else type(exc).__name__
        _fail(f"cannot reach the database {where}: {reason}")
    console.print("database ready")


@app.command("migrate")
def migrate_command(
    revision: str = typer.Argument("head", help="Target revision (default: the latest)."),
) -> None:
    """Upgrade the database schema with the Alembic migrations (docs/MIGRATIONS.md)."""
    settings = _settings(local_stack=False)  # the database only; also in the image
    from sqlalchemy.exc import OperationalError

    from db import migrations
    from db.database import database_url, get_engine

    engine = get_engine()
    try:
        before = migrations.current_revision(engine)
        migrations.upgrade(engine, revision)
        after = migrations.current_revision(engine)
    except OperationalError as exc:
        where = database_url(settings).render_as_string(hide_password=True)
        lines = [line for line in str(exc.orig or exc).splitlines() if line.strip()]
        _fail(f"cannot migrate {where}: {lines[0].strip() if lines else type(exc).__name__}")
    console.print(f"database schema at {after} (was {before or 'empty'})")


SERVED_APPS = {"main": "main:app", "ingest": "ingest_app:app"}


@app.command("serve")
def serve_command(name: str = typer.Argument("main", help="main or ingest")) -> None:
    """Serve one app on $HOST:$PORT (the container's entrypoint; Cloud Run sets PORT)."""
    import os

    import uvicorn

    settings = _settings(local_stack=False)  # the image has no local stack
    if name not in SERVED_APPS:
        _fail(f"unknown app {name!r}; one of {', '.join(SERVED_APPS)}", 2)
    uvicorn.run(
        SERVED_APPS[name],
        # In a container the port is the boundary; Cloud Run's front end is the only client.
        host=os.environ.get("HOST", "0.0.0.0"),  # noqa: S104
        port=int(os.environ.get("PORT", "8080")),
        # The client address comes from FORWARDED_HOPS (services/http/forwarded.py): uvicorn's own
        # proxy support would, trusting every hop, believe the caller's leftmost entry.
        proxy_headers=False,
        timeout_graceful_shutdown=int(settings.SHUTDOWN_GRACE_SECONDS),
        server_header=False,
        access_log=False,
    )


@app.command("run")
def run_command(
    sandbox: bool = typer.Option(True, help="Point vendors at the local sandbox on :8090."),
    seed: bool = typer.Option(True, help="Ingest the sandbox fleet before starting."),
) -> None:
    """Start sandbox, main API (:8000), ingest (:8001) and scheduler; Ctrl-C stops all."""
    _settings(local_stack=False)
    from devstack import run_stack

    raise typer.Exit(run_stack(use_sandbox=sandbox, seed_demo=seed))


def _ingest_table(runs: list):
    """The runs summary; it fits 80 columns (a long source + entity wraps onto two lines)."""
    from rich import box
    from rich.table import Table

    table = Table(
        title="ingest runs", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
        padding=(0, 1, 0, 0),
    )  # fmt: skip
    table.add_column("run", justify="right", no_wrap=True)
    table.add_column("ingest", overflow="fold", min_width=len("hos-violations"))
    table.add_column("status", no_wrap=True)
    for column in ("pages", "rows", "new", "upd", "skip", "unm", "secs"):
        table.add_column(column, justify="right", no_wrap=True)
    for run in runs:
        unmatched = sum(item.get("count", 0) for item in (run.unmatched or {}).values())
        table.add_row(
            str(run.id), f"{run.source} {run.entity}", run.status, str(run.pages),
            str(run.fetched), str(run.inserted), str(run.updated), str(run.skipped),
            str(unmatched), f"{(run.duration_ms or 0) / 1000:.1f}",
        )  # fmt: skip
    return table


def _print_ingest_summary(runs: list, conflicts: list[str]) -> int:
    table = _ingest_table(runs)
    console.print(table)
    for run in runs:
        if run.error:
            console.print(f"[red]run {run.id} failed:[/red] {run.error}")
        if run.skip_reasons:
            console.print(f"run {run.id} skipped: {run.skip_reasons}")
        if run.unmatched:
            console.print(f"run {run.id} unmatched: {run.unmatched}")
    for conflict in conflicts:
        console.print(f"[yellow]not started:[/yellow] {conflict}")
    failed = [r for r in runs if r.status == "failed"]
    return 1 if failed else (3 if conflicts else 0)


def _run_ingest_with_progress(source: str, entities: list[str], trigger: str) -> tuple[list, list]:
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from logic.ingest.jobs import start_ingest
    from logic.ingest.runner import IngestAlreadyRunning

    runs, conflicts = [], []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn(
        "{task.fields[pages]} pages · {task.fields[rows]} rows"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console) as progress:
        for entity in entities:
            task = progress.add_task(f"{source} {entity}", total=None, pages=0, rows=0)

            def on_page(handle, task=task) -> None:
                progress.update(task, pages=handle.pages, rows=handle.fetched)

            try:
                started = start_ingest(source, entity, trigger="cli", on_page=on_page)
            except IngestAlreadyRunning as exc:
                conflicts.append(exc.detail)
                progress.update(task, total=1, completed=1)
                continue
            runs.append(started.run())
            progress.update(task, total=1, completed=1)
    return runs, conflicts


def _not_configured_hint(exc: Exception) -> str:
    """For an unconfigured vendor in development: how to get the sandbox's configuration."""
    from devstack import DATABASE_SETTINGS, LOCAL_STACK_ENV, read_env_file
    from helpers.errors import UpstreamNotConfigured

    if not isinstance(exc, UpstreamNotConfigured) or get_settings().ENVIRONMENT != "development":
        return ""
    if set(read_env_file(LOCAL_STACK_ENV)) - set(DATABASE_SETTINGS):
        return ""
    return " (or start `make run` once: hand-run commands then use its sandbox)"


@app.command("ingest")
def ingest_command(
    source: str = typer.Argument(..., help="samsara or ditat"),
    entity: str = typer.Argument(..., help="an entity of that source (e.g. locations), or all"),
) -> None:
    """Pull one vendor entity (or all of a source's) into the database, with progress."""
    _settings()
    from helpers.errors import AppError
    from logic.bootstrap import bootstrap_database
    from logic.ingest.jobs import entities_of

    try:
        entities = entities_of(source)
        if entity != "all" and entity not in entities:
            _fail(f"unknown {source} entity {entity!r}; one of {', '.join([*entities, 'all'])}")
        bootstrap_database()
        runs, conflicts = _run_ingest_with_progress(
            source, entities if entity == "all" else [entity], "cli"
        )
    except AppError as exc:
        _fail(exc.detail + _not_configured_hint(exc))
    raise typer.Exit(_print_ingest_summary(runs, conflicts))


def _first_morning_report(settings) -> None:
    """On a sandbox stack only (real recipients are the operator's to choose): the demo's
    report recipient and today's morning report, delivered once."""
    from sandbox.credentials import SLACK_BOT_TOKEN

    if settings.SLACK_BOT_TOKEN.get_secret_value() != SLACK_BOT_TOKEN:
        console.print("morning report: Slack is not the sandbox's; no demo recipient added")
        return
    from logic.reports.demo import DEMO_CHANNEL, DEMO_EMAIL, first_morning_report

    result = first_morning_report()
    if result.recipient_added:
        console.print(f"report recipient added: {DEMO_CHANNEL} and {DEMO_EMAIL} (fleet-wide)")
    if result.generated:
        console.print(
            f"morning report {result.report_date}: {result.delivered} deliveries sent"
            + (f", {result.failed} failed" if result.failed else "")
        )
    else:
        console.print(f"morning report {result.report_date}: already built")


@app.command("export-bigquery")
def export_bigquery_command(
    table: list[str] = typer.Option(None, "--table", help="Only this table (repeatable)."),
    sandbox_url: str = typer.Option(
        "",
        help="Export to this sandbox's fake BigQuery (default: the local one on :8090 when "
        "GOOGLE_CLOUD_PROJECT is not set).",
    ),
) -> None:
    """Send every table's rows changed since its watermark to BigQuery (one run per table)."""
    import os

    settings = _settings()
    if not sandbox_url and not settings.GOOGLE_CLOUD_PROJECT:
        sandbox_url = "http://127.0.0.1:8090"
    if sandbox_url:
        from sandbox.credentials import sandbox_settings_env

        wanted = ("GOOGLE_CLOUD_PROJECT", "BIGQUERY_DATASET", "BIGQUERY_API_ENDPOINT")
        os.environ.update(
            {k: v for k, v in sandbox_settings_env(sandbox_url).items() if k in wanted}
        )
        get_settings.cache_clear()
        settings = _settings()
    from helpers.errors import AppError
    from logic.bootstrap import bootstrap_database
    from logic.warehouse.export import export_tables

    where = settings.BIGQUERY_API_ENDPOINT or "BigQuery"
    console.print(
        f"exporting to {settings.GOOGLE_CLOUD_PROJECT}.{settings.BIGQUERY_DATASET} ({where})"
    )
    bootstrap_database()
    try:
        result = export_tables(table or None, trigger="cli")
    except AppError as exc:
        _fail(exc.detail)
    conflicts = [
        f"bigquery {name}: an export is already running" for name in result.already_running
    ]
    raise typer.Exit(_print_ingest_summary(result.runs, conflicts))


@app.command("seed-demo")
def seed_demo_command(
    sandbox_url: str = typer.Option(
        "", help="Point every vendor at this sandbox first (e.g. http://127.0.0.1:8090)."
    ),
    first_report: bool = typer.Option(
        True,
        help="On the sandbox: add the demo report recipient (#fleet-reports) if there is none "
        "and deliver today's morning report once.",
    ),
) -> None:
    """Ingest everything (Samsara, then Ditat) so a fresh database opens populated, and, on the
    sandbox, deliver the first morning report."""
    import os

    if sandbox_url:
        from sandbox.credentials import sandbox_settings_env

        os.environ.update(sandbox_settings_env(sandbox_url))
        get_settings.cache_clear()
    settings = _settings()
    from helpers.errors import AppError
    from logic.bootstrap import bootstrap_database
    from logic.ingest.jobs import entities_of

    console.print(f"samsara: {settings.SAMSARA_BASE_URL}  ditat: {settings.DITAT_BASE_URL}")
    bootstrap_database()
    runs, conflicts = [], []
    try:
        for source in ("samsara", "ditat"):
            more_runs, more_conflicts = _run_ingest_with_progress(
                source, entities_of(source), "seed-demo"
            )
            runs += more_runs
            conflicts += more_conflicts
    except AppError as exc:
        _fail(exc.detail + _not_configured_hint(exc))
    code = _print_ingest_summary(runs, conflicts)
    if first_report:
        _first_morning_report(get_settings())
    _demo_customer_contacts(get_settings())
    _demo_elevenlabs_agent(get_settings())
    raise typer.Exit(code)


def _demo_elevenlabs_agent(settings) -> None:
    """On a sandbox stack only: give the sandbox's ElevenLabs agent the voicemail and transfer
    tools, as an operator would at ElevenLabs (the hub never sets them per call: the spec has
    no such field), so the demo's ElevenLabs calls leave voicemail and transfer like VAPI's."""
    from sandbox.credentials import ELEVENLABS_API_KEY

    if settings.ELEVENLABS_API_KEY.get_secret_value() != ELEVENLABS_API_KEY:
        return
    import httpx

    from logic.calls.voice.base import voicemail_message
    from sandbox.elevenlabs_tools import tools_config

    config = tools_config(voicemail_message(settings), settings.CALL_TRANSFER_NUMBER or None)
    httpx.patch(
        f"{settings.ELEVENLABS_BASE_URL}/v1/convai/agents/{settings.ELEVENLABS_AGENT_ID}",
        headers={"xi-api-key": ELEVENLABS_API_KEY},
        json={"conversation_config": config},
        timeout=10,
    ).raise_for_status()
    console.print("sandbox ElevenLabs agent: voicemail detection and transfer tools set")


def _demo_customer_contacts(settings) -> None:
    """On a sandbox stack only: a contact per customer, so notices reach the sandbox mailbox."""
    from sandbox.credentials import SLACK_BOT_TOKEN

    if settings.SLACK_BOT_TOKEN.get_secret_value() != SLACK_BOT_TOKEN:
        return
    from db.database import session_scope
    from logic.customers.demo import add_demo_contacts

    with session_scope() as session:
        added = add_demo_contacts(session)
    if added:
        console.print(f"customer contacts added: {added} (notices go to the sandbox mailbox)")


@app.command("prune-locations")
def prune_locations_command(
    days: int = typer.Option(
        None,
        min=1,
        help="Days of GPS history to keep.",
        show_default=f"LOCATION_RETENTION_DAYS or {_default_setting('LOCATION_RETENTION_DAYS')}",
    ),
) -> None:
    """Delete GPS points older than the retention window, in batches (not during ingest)."""
    settings = _settings()
    from logic.ingest.retention import prune_locations

    keep = days or settings.LOCATION_RETENTION_DAYS
    from helpers.errors import Conflict

    try:
        deleted = prune_locations(keep)
    except (ValueError, Conflict) as exc:
        _fail(str(exc))
    console.print(f"deleted {deleted} location rows older than {keep} days")


@app.command("call")
def call_command(
    driver: int = typer.Argument(..., help="Driver id."),
    purpose: str = typer.Option(
        "late_load_check", help="violation_coaching | late_load_check | hos_check | custom"
    ),
    provider: str = typer.Option("vapi", help="A registered voice provider: vapi | elevenlabs."),
    alert: int = typer.Option(None, help="Alert that prompted the call (gets the Slack reply)."),
) -> None:
    """Place one AI call to a driver, with the same pre-dial checks as the API."""
    settings = _settings()
    from db.database import session_scope
    from helpers.errors import AppError
    from logic.calls.placement import CallRefused, CallRequest, prepare_call
    from logic.calls.service import calling_policy, dial_after_commit
    from logic.calls.voice.registry import UnknownProvider, provider_kind
    from models.call import Call, CallPurpose

    try:
        purpose_value = CallPurpose(purpose)
        provider_kind(provider)
    except (ValueError, UnknownProvider) as exc:
        _fail(str(exc), 2)
    request = CallRequest(
        driver_id=driver,
        purpose=purpose_value,
        provider=provider,
        alert_id=alert,
        placed_by_label="cli",
    )
    try:
        with session_scope() as session:
            call_id = prepare_call(session, request, policy=calling_policy(settings)).id
    except CallRefused as refused:
        _fail(f"{refused.refusal.reason.value}: {refused.refusal.message}")
    except AppError as exc:
        _fail(exc.detail)
    dial_after_commit([call_id], settings)
    with session_scope(immediate=False) as session:
        call = session.get(Call, call_id)
        status, error = call.status, call.error
    if status == "failed":
        _fail(f"call {call_id} {status}: {error}")
    console.print(f"call {call_id} {status} ({provider}, {purpose_value.value})")
    if error:
        console.print(f"[yellow]warning:[/yellow] {error}")


@app.command("reconcile-calls")
def reconcile_calls_command(
    after: float = typer.Option(
        None, help="Minutes past a call's expected end (default CALL_RECONCILE_AFTER_MINUTES)."
    ),
) -> None:
    """Poll each call's voice provider for calls whose final webhook never came, and fill them."""
    settings = _settings()
    from logic.calls.reconcile import reconcile_calls
    from logic.calls.service import dialer_for
    from logic.calls.voice.registry import CallProviders

    providers = CallProviders.from_settings(settings)
    try:
        result = reconcile_calls(
            providers,
            after_minutes=settings.CALL_RECONCILE_AFTER_MINUTES if after is None else after,
            dialer=dialer_for(providers, settings),
        )
    finally:
        providers.close()
    console.print(
        f"checked {result.checked}, filled {result.filled}, still running "
        f"{result.still_running}, early events applied {result.linked_events}; dials: "
        f"{result.dialed} recovered, {result.found_at_vendor} found at the vendor, "
        f"{result.not_placed} not placed, {result.still_unknown} still unknown, "
        f"{result.given_up} given up"
    )
    for error in result.errors:
        console.print(f"[yellow]warning:[/yellow] {error}")
    raise typer.Exit(1 if result.errors else 0)


@app.command("campaigns-tick")
def campaigns_tick_command() -> None:
    """Run one campaign tick: move targets on from their calls, claim due ones and dial them."""
    settings = _settings()
    import json

    from logic.calls.campaigns import run_tick
    from logic.messaging.contact_plans import campaign_plan_step

    result = run_tick(settings, plan_step=campaign_plan_step)
    print(json.dumps(result.as_dict(), indent=2))
    if result.not_placed:
        console.print(f"[yellow]{result.not_placed} claimed targets were not placed[/yellow]")


@app.command("morning-report")
def morning_report_command(
    day: str = typer.Option(None, "--date", help="Day the report is read, YYYY-MM-DD (today)."),
    terminal: str = typer.Option(
        None, help="One terminal ('' = fleet-wide only); default every terminal and the fleet."
    ),
    deliver: bool = typer.Option(True, help="Send to the recipients (Slack, email)."),
    sandbox_url: str = typer.Option(
        "", help="Deliver to this sandbox's Slack and SMTP (e.g. http://127.0.0.1:8090)."
    ),
    smtp_port: int = typer.Option(8025, help="The sandbox SMTP port, with --sandbox-url."),
) -> None:
    """(Re)generate the morning report from stored facts and deliver it through the outbox."""
    import os
    from datetime import date

    from rich.table import Table

    if sandbox_url:
        from sandbox.credentials import sandbox_settings_env

        os.environ.update(sandbox_settings_env(sandbox_url, smtp_port))
        get_settings.cache_clear()
    _settings()
    from logic.reports.jobs import run_morning_report

    try:
        report_date = date.fromisoformat(day) if day else None
    except ValueError:
        _fail(f"--date must be YYYY-MM-DD, got {day!r}")
    run = run_morning_report(report_date, terminal=terminal, deliver=deliver)
    table = Table(title=f"morning report {run.report_date}")
    for column in ("report", "scope"):
        table.add_column(column)
    for report in run.reports:
        table.add_row(str(report["id"]), report["terminal"] or "fleet")
    console.print(table)
    console.print(f"queued {run.queued} new deliveries")
    if run.delivery is not None:
        d = run.delivery
        console.print(
            f"delivered {d['sent']}, retrying {d['retried']}, failed {d['failed']}"
            + "".join(f"\n  {e}" for e in d["errors"])
        )
    raise typer.Exit(1 if run.delivery and run.delivery["failed"] else 0)


@app.command("scheduler")
def scheduler_command() -> None:
    """Call the ingest (and alert) endpoints on the Cloud Scheduler cadence until Ctrl-C."""
    settings = _settings()
    import threading

    from logic.ingest.scheduler import Scheduler
    from utils.http import build_http_client

    api_key = settings.SERVICE_API_KEY.get_secret_value()
    if not api_key:
        _fail("SERVICE_API_KEY is not set; the scheduler authenticates with it", 2)
    stop = threading.Event()
    with (
        build_http_client(settings.INGEST_BASE_URL, timeout=30.0) as ingest,
        build_http_client(settings.MAIN_API_BASE_URL, timeout=30.0) as main,
    ):
        scheduler = Scheduler(ingest=ingest, main=main, api_key=api_key)
        console.print(f"scheduler → {settings.INGEST_BASE_URL} and {settings.MAIN_API_BASE_URL}")
        try:
            scheduler.run_forever(
                stop, lambda o: console.print(f"{o.name}: {o.status or '—'} {o.detail}")
            )
        except KeyboardInterrupt:
            stop.set()


@app.command("sandbox")
def sandbox_command(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8090, help="Port to serve the fake vendors on."),
    seed: int = typer.Option(None, help="Fleet seed (default SANDBOX_SEED or 42)."),
    trucks: int = typer.Option(None, help="Fleet size (default SANDBOX_FLEET_SIZE or 25)."),
    smtp_port: int = typer.Option(8025, help="Port of the sandbox SMTP server (0: none)."),
    state_dir: str = typer.Option(
        "",
        help="Keep the sandbox's world here across restarts (Slack, calls, mail, the fleet's "
        "timeline); `make run` uses data/sandbox. Empty: forget everything on exit.",
    ),
) -> None:
    """Serve the fake vendor APIs (Samsara, Ditat, PC*MILER, weather, Slack, VAPI, ElevenLabs)
    and the sandbox mail server."""
    from pathlib import Path

    import uvicorn

    from sandbox.app import create_sandbox_app
    from sandbox.mail import start_smtp

    console.print(f"vendor sandbox on http://{host}:{port} (controls under /_sandbox, docs /docs)")
    if state_dir:
        console.print(f"sandbox state kept in {state_dir}/ (Slack, calls, mail, fleet timeline)")
    smtp = start_smtp(smtp_port, host=host) if smtp_port else None
    if smtp is not None:
        console.print(f"sandbox SMTP on {host}:{smtp_port} (messages at /_sandbox/mail/messages)")
    try:
        uvicorn.run(
            create_sandbox_app(
                seed=seed, trucks=trucks, state_dir=Path(state_dir) if state_dir else None
            ),
            host=host,
            port=port,
            log_level="warning",
        )
    finally:
        if smtp is not None:
            smtp.stop()


def _ask_password(password: str | None) -> str:
    if password:
        return password
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


def _user_command(work) -> None:
    """Run `work(session)` in one committed unit after bootstrapping; AppErrors become exit 1."""
    _settings()
    from db.database import session_scope
    from helpers.errors import AppError
    from logic.bootstrap import bootstrap_database

    bootstrap_database()
    try:
        with session_scope() as session:
            work(session)
    except AppError as exc:
        _fail(exc.detail)


def _find_user(session, login: str):
    from models.user import User

    user = User.get_by_login(session, login)
    if user is None:
        _fail(f"no user with username or email {login!r}")
    return user


@app.command("create-admin")
def create_admin_command(
    username: str = typer.Option(..., help="Login name."),
    email: str = typer.Option(..., help="Email (also accepted as login)."),
    password: str = typer.Option(None, help="Prompted (hidden) when omitted.", show_default=False),
    full_name: str = typer.Option("Administrator", help="Display name."),
) -> None:
    """Create a superuser with the admin role."""
    from logic.auth.admin_bootstrap import create_admin

    secret = _ask_password(password)
    _user_command(
        lambda s: create_admin(
            s, username=username, email=email, password=secret, full_name=full_name
        )
    )
    console.print(f"admin {username!r} created")


@app.command("reset-password")
def reset_password_command(
    login: str = typer.Argument(..., help="Username or email."),
    password: str = typer.Option(None, help="Prompted (hidden) when omitted.", show_default=False),
) -> None:
    """Set a user's password and end all of their sessions."""
    from logic.auth.users import reset_password
    from models.user import PASSWORD_MIN_LENGTH

    secret = _ask_password(password)
    if len(secret) < PASSWORD_MIN_LENGTH:
        _fail(f"password must have at least {PASSWORD_MIN_LENGTH} characters")
    _user_command(lambda s: reset_password(s, None, _find_user(s, login).id, secret))
    console.print(f"password of {login!r} reset; their sessions were ended")


@app.command("unlock-user")
def unlock_user_command(login: str = typer.Argument(..., help="Username or email.")) -> None:
    """Lift a lockout caused by failed logins."""
    from logic.auth.users import unlock_user

    _user_command(lambda s: unlock_user(s, None, _find_user(s, login).id))
    console.print(f"{login!r} unlocked")


@app.command("seed-admin")
def seed_admin_command() -> None:
    """Create the demo admin (DEMO_ADMIN_*) if missing; a generated password is printed once."""
    from logic.auth.admin_bootstrap import ensure_demo_admin

    result = {}
    _user_command(lambda s: result.update(admin=ensure_demo_admin(s)))
    admin = result["admin"]
    if not admin.created:
        console.print(f"demo admin {admin.user.username!r} already exists (password unchanged)")
    elif admin.generated_password:
        console.print(
            f"demo admin created: username [bold]{admin.user.username}[/bold] "
            f"password [bold]{admin.generated_password}[/bold] (shown once; set "
            "DEMO_ADMIN_PASSWORD to choose it)"
        )
    else:
        console.print(f"demo admin {admin.user.username!r} created with DEMO_ADMIN_PASSWORD")


@app.command("service-key")
def service_key_command() -> None:
    """Print the service API key (`X-API-Key`) of the local stack: data/.local-secrets."""
    settings = _settings()
    key = settings.SERVICE_API_KEY.get_secret_value()
    if not key:
        _fail("SERVICE_API_KEY is not set (`make run` generates one in data/.local-secrets)")
    typer.echo(key)


def main() -> None:
    """The `hub` console script."""
    try:
        app()
    except ConfigError as exc:
        sys.exit(f"fleet-hub: {exc}")


if __name__ == "__main__":
    main()
