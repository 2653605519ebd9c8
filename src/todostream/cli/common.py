"""What every command shares: settings, failing with one line, database guards.

Heavy modules (the web app, SQLAlchemy, brokers) are imported inside functions, so
`todostream --help` and `todostream token` start in a fraction of a second.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console

from todostream.config import ConfigurationError, PubSubMode, Settings, load_settings

if TYPE_CHECKING:
    from todostream.bootstrap import Role, Runtime

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def settings(**overrides: Any) -> Settings:
    """The settings, with logging configured from them; a bad setting ends in one line."""
    from todostream.observability.logging import configure_logging

    try:
        loaded = load_settings(**overrides)
    except ConfigurationError as exc:
        fail(str(exc))
    configure_logging(loaded.log_format.value, loaded.log_level.value)
    return loaded


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine; a database that cannot be reached ends in one line, not a traceback."""
    from sqlalchemy.exc import DBAPIError

    try:
        return asyncio.run(coroutine)
    except (DBAPIError, OSError) as exc:
        reason = getattr(exc, "orig", None) or exc
        fail(f"cannot use the database: {reason}")


async def require_current_schema(settings: Settings) -> None:
    """Refuse a schema that is behind; run on one that is newer (a rolling upgrade)."""
    import logging

    from todostream.store import migrate
    from todostream.store.database import create_engine, sqlite_path

    path = sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        fail(f"there is no database at {path}; run `todostream migrate`, or set DATABASE_URL")
    engine = create_engine(settings.database_url)
    try:
        state = await migrate.schema_state(engine)
    finally:
        await engine.dispose()
    if state.behind:
        fail(f"the database schema is {state.describe()}; run `todostream migrate`")
    if state.unknown:
        logging.getLogger(__name__).warning(
            "the database schema is newer than this version", extra={"revision": state.unknown}
        )


def require_shared_broker(settings: Settings) -> None:
    """A role on its own must reach the others through a broker they share; the in-memory one
    lives inside a single process, so events would go nowhere."""
    from todostream.pubsub.component import ComponentError, load_component

    try:
        component = load_component(settings.pubsub_component)
    except ComponentError as exc:
        fail(str(exc))
    if component.type == "pubsub.in-memory" and settings.pubsub_mode is PubSubMode.DIRECT:
        fail(
            f"{settings.pubsub_component} is the in-memory broker, which only works inside one"
            " process: run `todostream dev`, or set PUBSUB_COMPONENT to a Kafka or Redis"
            " component (components/kafka.yaml, components/redis.yaml)"
        )


def require_free_port(host: str, port: int) -> None:
    """Say so before starting anything, rather than after the consumers have begun."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            fail(f"cannot listen on {host}:{port} ({exc.strerror}); choose another with --port")


def build(settings: Settings, roles: frozenset[Role]) -> Runtime:
    """The runtime, or one clear line about the component or rules file that stops it."""
    from todostream.bootstrap import build_runtime
    from todostream.domain.constitution import ConstitutionError
    from todostream.pubsub.component import ComponentError

    try:
        return build_runtime(settings, roles)
    except (ComponentError, ConstitutionError, ValueError) as exc:
        fail(str(exc))
