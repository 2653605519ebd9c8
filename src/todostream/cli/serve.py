"""The serving commands: one role each, or all of them in one process."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from todostream.cli import common
from todostream.config import Settings

if TYPE_CHECKING:
    from todostream.bootstrap import Role, Runtime


def serve(
    settings: Settings,
    roles: frozenset[Role],
    host: str,
    port: int,
    banner: Callable[[Runtime], None] | None = None,
) -> None:
    import uvicorn

    from todostream.api.app import create_app

    common.require_free_port(host, port)
    runtime = common.build(settings, roles)
    if banner is not None:
        banner(runtime)
    app = create_app(runtime)
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
    uvicorn.Server(config).run()


def serve_workers(host: str, port: int, workers: int) -> None:
    """The API in several worker processes; their metrics are merged through files in
    PROMETHEUS_MULTIPROC_DIR (a fresh directory is made when it is not set)."""
    import uvicorn

    settings = common.settings()
    common.require_shared_broker(settings)
    common.run(common.require_current_schema(settings))
    common.require_free_port(host, port)
    made_here = _fresh_multiprocess_dir()
    try:
        uvicorn.run(
            "todostream.api.factory:api_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            access_log=False,
        )
    finally:
        if made_here is not None:
            shutil.rmtree(made_here, ignore_errors=True)


def _fresh_multiprocess_dir() -> Path | None:
    """prometheus_client's multiprocess files must start empty for every run of the server.
    Returns the directory when it was made here (and is removed again at exit)."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    directory = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="todostream-"))
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return None if configured else directory


def serve_role(role: Role, host: str, port: int) -> None:
    """A single role, as it runs in production: shared broker and current schema required."""
    settings = common.settings()
    common.require_shared_broker(settings)
    common.run(common.require_current_schema(settings))
    serve(settings, frozenset({role}), host, port)


async def migrate(settings: Settings) -> list[str]:
    """Apply pending migrations; returns the revisions applied, oldest first."""
    from todostream.store import migrate as migrations
    from todostream.store.database import create_engine

    engine = create_engine(settings.database_url)
    try:
        return await migrations.upgrade(engine)
    except migrations.UnknownRevision as exc:
        common.fail(str(exc))
    finally:
        await engine.dispose()
