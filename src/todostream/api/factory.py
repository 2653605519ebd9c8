"""The app built from the environment alone, for servers that start one per worker process."""

from __future__ import annotations

from fastapi import FastAPI

from todostream.api.app import create_app
from todostream.bootstrap import Role, build_runtime
from todostream.config import load_settings
from todostream.observability.logging import configure_logging


def api_from_environment() -> FastAPI:
    """What `todostream api --workers N` runs in each worker: the API role, with its relay."""
    settings = load_settings()
    configure_logging(settings.log_format.value, settings.log_level.value)
    return create_app(build_runtime(settings, frozenset({Role.API})))
