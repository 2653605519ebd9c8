"""The `todostream` command: one entry point for every role and chore."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
import uvicorn
from rich.console import Console
from rich.progress import Progress
from sqlalchemy.ext.asyncio import AsyncSession

from todostream.api.app import create_app
from todostream.api.auth import Authenticator, resolve_secret
from todostream.bootstrap import ALL_ROLES, Role, Runtime, build_runtime
from todostream.config import ConfigurationError, PubSubMode, Settings, load_settings
from todostream.domain.constitution import ConstitutionError
from todostream.observability.logging import configure_logging
from todostream.pubsub.component import ComponentError, load_component
from todostream.service_layer.importer import ImportReport, TodoTxtImporter
from todostream.service_layer.todos import Caller
from todostream.store import migrate as migrations
from todostream.store.audit_chain import verify_chain
from todostream.store.database import create_engine

PROGRESS_THRESHOLD_LINES = 200

app = typer.Typer(
    help="todostream: a todo service in which every change is an event.", no_args_is_help=True
)
audit_app = typer.Typer(help="The audit service and its hash-chained log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

Host = Annotated[str, typer.Option(help="Interface to listen on.")]
Port = Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)]


def _fail(message: str, code: int = 2) -> NoReturn:
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def _settings(**overrides: Any) -> Settings:
    try:
        settings = load_settings(**overrides)
    except ConfigurationError as exc:
        _fail(str(exc))
    configure_logging(settings.log_format.value, settings.log_level.value)
    return settings


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coroutine)


async def _migrate(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    try:
        await migrations.upgrade(engine)
    finally:
        await engine.dispose()


async def _require_current_schema(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    try:
        pending = await migrations.pending_revisions(engine)
    finally:
        await engine.dispose()
    if pending:
        _fail(
            f"the database schema is behind ({len(pending)} migrations); run `todostream migrate`"
        )


def _require_shared_broker(settings: Settings) -> None:
    """A role on its own must reach the others through a broker they share; the in-memory one
    lives inside a single process, so events would go nowhere."""
    try:
        component = load_component(settings.pubsub_component)
    except ComponentError as exc:
        _fail(str(exc))
    if component.type == "pubsub.in-memory" and settings.pubsub_mode is PubSubMode.DIRECT:
        _fail(
            f"{settings.pubsub_component} is the in-memory broker, which only works inside one"
            " process: run `todostream dev`, or set PUBSUB_COMPONENT to a Kafka or Redis"
            " component (components/kafka.yaml, components/redis.yaml)"
        )


def _build(settings: Settings, roles: frozenset[Role]) -> Runtime:
    """The runtime, or one clear line about the component or rules file that stops it."""
    try:
        return build_runtime(settings, roles)
    except (ComponentError, ConstitutionError, ValueError) as exc:
        _fail(str(exc))


def _serve(
    settings: Settings,
    roles: frozenset[Role],
    host: str,
    port: int,
    banner: Callable[[Runtime], None] | None = None,
) -> None:
    runtime = _build(settings, roles)
    if banner is not None:
        banner(runtime)
    config = uvicorn.Config(
        create_app(runtime), host=host, port=port, log_config=None, access_log=False
    )
    uvicorn.Server(config).run()


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    settings = _settings()
    _run(_migrate(settings))
    console.print("database schema is up to date")


@app.command()
def api(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    migrate_first: Annotated[
        bool, typer.Option("--migrate", help="Upgrade the schema first.")
    ] = False,
) -> None:
    """Serve the REST API, the outbox relay (unless RELAY_ENABLED=false) and /metrics."""
    settings = _settings()
    _require_shared_broker(settings)
    _run(_migrate(settings) if migrate_first else _require_current_schema(settings))
    _serve(settings, frozenset({Role.API}), host, port)


@app.command()
def notification(host: Host = "127.0.0.1", port: Port = 8001) -> None:
    """Consume todo-events and send notifications."""
    settings = _settings()
    _require_shared_broker(settings)
    _run(_require_current_schema(settings))
    _serve(settings, frozenset({Role.NOTIFICATION}), host, port)


@audit_app.command("serve")
def audit_serve(host: Host = "127.0.0.1", port: Port = 8002) -> None:
    """Consume todo-events into the hash-chained audit log."""
    settings = _settings()
    _require_shared_broker(settings)
    _run(_require_current_schema(settings))
    _serve(settings, frozenset({Role.AUDIT}), host, port)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit chain; exit 1 naming the first row that breaks it."""
    settings = _settings()
    report = _run(_verify(settings))
    if not report.ok:
        _fail(f"audit chain broken at row {report.first_bad_seq}: {report.problem}", code=1)
    console.print(f"audit chain intact: {report.rows} rows verified")


async def _verify(settings: Settings) -> Any:
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection, AsyncSession(bind=connection) as session:
            return await verify_chain(session)
    finally:
        await engine.dispose()


@app.command()
def dev(host: Host = "127.0.0.1", port: Port = 8000) -> None:
    """Everything in one process on the embedded defaults: API, relay, consumers."""
    settings = _settings()
    _run(_migrate(settings))

    def banner(runtime: Runtime) -> None:
        token = runtime.authenticator.issue(settings.local_user_id)
        console.print(f"todostream on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
        console.print(f"local user token: {token}", soft_wrap=True, highlight=False)

    _serve(settings, ALL_ROLES, host, port, banner)


@app.command()
def token(
    user: Annotated[str | None, typer.Option(help="User id for the `sub` claim.")] = None,
    ttl_days: Annotated[int, typer.Option(help="Days until the token expires.", min=1)] = 30,
) -> None:
    """Print a bearer token signed with AUTH_JWT_SECRET (or the local secret)."""
    settings = _settings()
    authenticator = Authenticator(
        resolve_secret(settings), allow_anonymous=False, local_user_id=settings.local_user_id
    )
    print(authenticator.issue(user or settings.local_user_id, timedelta(days=ttl_days)))


@app.command("import")
def import_file(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A todo.txt file.")
    ],
    url: Annotated[
        str | None,
        typer.Option(help="A running service to send the file to; default: the database directly."),
    ] = None,
    token_: Annotated[str | None, typer.Option("--token", help="Bearer token for --url.")] = None,
    user: Annotated[str | None, typer.Option(help="Owner of the todos (database mode).")] = None,
) -> None:
    """Import a todo.txt file: every line goes through the same checks and events as the API."""
    text = _read_file(file)
    lines = text.count("\n") + 1
    if url:
        report = _import_over_http(url, token_, text, lines)
    else:
        settings = _settings(relay_enabled=False)
        report = _run(_import_direct(settings, user or settings.local_user_id, text, lines))
    _print_report(file, report)


def _read_file(file: Path) -> str:
    try:
        return file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        _fail(f"{file} is not UTF-8 text ({exc.reason} at byte {exc.start})")


async def _import_direct(settings: Settings, user: str, text: str, lines: int) -> dict[str, Any]:
    await _require_current_schema(settings)
    runtime = _build(settings, frozenset({Role.API}))
    try:
        importer = TodoTxtImporter(runtime.todos, runtime.uow)
        with _ProgressBar(lines) as advance:
            report: ImportReport = await importer.import_text(Caller(user_id=user), text, advance)
    finally:
        await runtime.engine.dispose()
    return asdict(report)


def _import_over_http(url: str, token_: str | None, text: str, lines: int) -> dict[str, Any]:
    headers = {"Content-Type": "text/plain; charset=utf-8", "Accept": "application/x-ndjson"}
    if token_:
        headers["Authorization"] = f"Bearer {token_}"
    endpoint = url.rstrip("/") + "/api/import"
    try:
        with (
            httpx.stream(
                "POST", endpoint, content=text.encode(), headers=headers, timeout=300
            ) as response,
            _ProgressBar(lines) as advance,
        ):
            if response.status_code != 200:
                response.read()
                _fail(f"{endpoint} answered {response.status_code}: {response.text}")
            return _read_progress(response, advance)
    except httpx.HTTPError as exc:
        _fail(f"cannot reach {endpoint}: {exc}")


def _read_progress(response: httpx.Response, advance: Callable[[int, int], None]) -> dict[str, Any]:
    for line in response.iter_lines():
        item = json.loads(line)
        if "done" in item:
            advance(item["done"], item["total"])
        elif "error" in item:
            _fail(item["error"], code=1)
        elif "report" in item:
            report: dict[str, Any] = item["report"]
            return report
    _fail("the service closed the connection before reporting")


class _ProgressBar:
    """A progress bar for long files; a no-op for short ones."""

    def __init__(self, lines: int) -> None:
        self._bar = (
            Progress(console=errors, transient=True) if lines > PROGRESS_THRESHOLD_LINES else None
        )
        self._task: Any = None

    def __enter__(self) -> Callable[[int, int], None]:
        if self._bar is None:
            return lambda done, total: None
        self._bar.start()
        self._task = self._bar.add_task("importing", total=None)
        bar = self._bar
        return lambda done, total: bar.update(self._task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def _print_report(file: Path, report: dict[str, Any]) -> None:
    console.print(
        f"{file.name}: {report['created']} created, {report['flagged']} flagged, "
        f"{report['blocked']} blocked, {report['skipped']} skipped "
        f"({report['lines']} lines, {report['blank_lines']} blank)",
        highlight=False,
    )
    for label in ("flagged", "blocked", "skipped"):
        for line_range, reason in _runs(report[f"{label}_lines"]):
            console.print(f"  {line_range}: {label}: {reason}", highlight=False)
    if report["warnings"]:
        count = len(report["warnings"])
        console.print(f"  {count} warnings (dates or tags kept as text)", highlight=False)


_DUPLICATE = re.compile(r"duplicate of line (\d+)")


def _runs(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Consecutive lines with the same reason (or duplicating consecutive lines) as one run."""
    runs: list[list[dict[str, Any]]] = []
    for entry in entries:
        if runs and _continues(runs[-1][-1], entry):
            runs[-1].append(entry)
        else:
            runs.append([entry])
    return [(_line_range(run), _run_reason(run)) for run in runs]


def _continues(previous: dict[str, Any], entry: dict[str, Any]) -> bool:
    if entry["line"] != previous["line"] + 1:
        return False
    before, now = _DUPLICATE.fullmatch(previous["reason"]), _DUPLICATE.fullmatch(entry["reason"])
    if before and now:
        return int(now.group(1)) == int(before.group(1)) + 1
    return bool(entry["reason"] == previous["reason"])


def _line_range(run: list[dict[str, Any]]) -> str:
    first, last = run[0]["line"], run[-1]["line"]
    return f"line {first}" if first == last else f"lines {first}-{last}"


def _run_reason(run: list[dict[str, Any]]) -> str:
    first, last = _DUPLICATE.fullmatch(run[0]["reason"]), _DUPLICATE.fullmatch(run[-1]["reason"])
    if len(run) > 1 and first and last:
        return f"duplicates of lines {first.group(1)}-{last.group(1)}"
    return str(run[0]["reason"])


def main() -> None:
    try:
        app()
    except ConfigurationError as exc:
        errors.print(f"error: {exc}")
        sys.exit(2)
