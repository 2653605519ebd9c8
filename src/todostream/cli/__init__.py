"""The `todostream` command: one entry point for every role and chore."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from todostream.cli import common, outbox, report, serve, transfer

if TYPE_CHECKING:
    from todostream.bootstrap import Runtime

app = typer.Typer(
    help="todostream: a todo service in which every change is an event.", no_args_is_help=True
)
audit_app = typer.Typer(help="The audit service and its hash-chained log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
outbox_app = typer.Typer(help="The transactional outbox the relay publishes.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")

Host = Annotated[str, typer.Option(help="Interface to listen on.")]
Port = Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)]


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    applied = common.run(serve.migrate(common.settings()))
    for revision in applied:
        common.console.print(f"applied migration {revision}", highlight=False)
    common.console.print("database schema is up to date")


@app.command()
def api(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    migrate_first: Annotated[
        bool, typer.Option("--migrate", help="Upgrade the schema first.")
    ] = False,
    workers: Annotated[
        int, typer.Option(help="Worker processes; metrics are merged across them.", min=1)
    ] = 1,
) -> None:
    """Serve the REST API, the outbox relay (unless RELAY_ENABLED=false) and /metrics."""
    from todostream.bootstrap import Role

    if migrate_first:
        common.run(serve.migrate(common.settings()))
    if workers > 1:
        serve.serve_workers(host, port, workers)
    else:
        serve.serve_role(Role.API, host, port)


@app.command()
def notification(host: Host = "127.0.0.1", port: Port = 8001) -> None:
    """Consume todo-events and send notifications (routed to todo-notifications)."""
    from todostream.bootstrap import Role

    serve.serve_role(Role.NOTIFICATION, host, port)


@audit_app.command("serve")
def audit_serve(host: Host = "127.0.0.1", port: Port = 8002) -> None:
    """Consume todo-events into the hash-chained audit log (and todo-audit)."""
    from todostream.bootstrap import Role

    serve.serve_role(Role.AUDIT, host, port)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit chain; exit 1 naming the first row that breaks it."""
    settings = common.settings()
    common.run(common.require_current_schema(settings))
    chain = common.run(_verify(settings))
    if not chain.ok:
        common.fail(f"audit chain broken at row {chain.first_bad_seq}: {chain.problem}", code=1)
    common.console.print(f"audit chain intact: {chain.rows} rows verified")


async def _verify(settings: Any) -> Any:
    from todostream.store.audit_chain import verify_snapshot
    from todostream.store.database import create_engine

    engine = create_engine(settings.database_url)
    try:
        return await verify_snapshot(engine)
    finally:
        await engine.dispose()


@outbox_app.command("status")
def outbox_status() -> None:
    """How many events wait for the relay, and how old the oldest is."""
    settings = common.settings()
    common.run(common.require_current_schema(settings))
    pending, age = common.run(outbox.backlog(settings))
    common.console.print(f"{pending} events pending; oldest {age.total_seconds():.1f}s old")


Consumers = Annotated[
    list[str] | None,
    typer.Option("--consumer", help="notification or audit; repeat for both (the default)."),
]


@outbox_app.command("replay")
def outbox_replay(consumer: Consumers = None) -> None:
    """Publish again every event a consumer has not processed, after a broker lost messages.

    Consumers skip what they had handled, so replaying too much is harmless.

    Events older than OUTBOX_RETENTION_HOURS are gone from the outbox and cannot be replayed.
    """
    chosen = sorted(set(consumer or ["notification", "audit"]))
    unknown = set(chosen) - {"notification", "audit"}
    if unknown:
        common.fail(f"unknown consumer {', '.join(sorted(unknown))}: use notification or audit")
    settings = common.settings()
    common.run(common.require_current_schema(settings))
    count = common.run(outbox.replay_unconsumed(settings, chosen))
    common.console.print(
        f"{count} events marked for publishing again; a running relay sends them now"
    )


@app.command()
def dev(host: Host = "127.0.0.1", port: Port = 8000) -> None:
    """Everything in one process on the embedded defaults: API, relay, consumers."""
    from todostream.bootstrap import ALL_ROLES

    settings = common.settings()
    common.require_free_port(host, port)
    common.run(serve.migrate(settings))

    def banner(runtime: Runtime) -> None:
        token = runtime.authenticator.issue(settings.local_user_id)
        common.console.print(
            f"todostream on http://{host}:{port}  (docs: http://{host}:{port}/docs)"
        )
        common.console.print(f"local user token: {token}", highlight=False)

    serve.serve(settings, ALL_ROLES, host, port, banner)


@app.command()
def token(
    user: Annotated[str | None, typer.Option(help="User id for the `sub` claim.")] = None,
    ttl_days: Annotated[int, typer.Option(help="Days until the token expires.", min=1)] = 30,
) -> None:
    """Print a bearer token signed with AUTH_JWT_SECRET (or the local secret)."""
    from todostream.api.auth import Authenticator, resolve_secret

    settings = common.settings()
    if user is not None and not user.strip():
        common.fail("--user must name a user")
    authenticator = Authenticator(
        resolve_secret(settings), allow_anonymous=False, local_user_id=settings.local_user_id
    )
    print(authenticator.issue(user or settings.local_user_id, timedelta(days=ttl_days)))


@app.command("import")
def import_file(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, metavar="FILE", help="A todo.txt file."
        ),
    ],
    url: Annotated[
        str | None,
        typer.Option(help="A running service to send the file to; default: the database directly."),
    ] = None,
    token_: Annotated[str | None, typer.Option("--token", help="Bearer token for --url.")] = None,
    user: Annotated[str | None, typer.Option(help="Owner of the todos (database mode).")] = None,
) -> None:
    """Import a todo.txt file: every line goes through the same checks and events as the API."""
    if url and user is not None:
        common.fail("--user is for database mode; with --url the token says whose todos they are")
    if not url and token_ is not None:
        common.fail("--token is for --url; in database mode --user says whose todos they are")
    text = transfer.read_file(file)
    lines = text.count("\n") + 1
    if url:
        result = transfer.import_over_http(url, token_, text, lines)
    else:
        settings = common.settings(relay_enabled=False)
        owner = user or settings.local_user_id
        result = common.run(transfer.import_direct(settings, owner, text, lines))
    report.print_report(file, result)


def main() -> None:
    app()
